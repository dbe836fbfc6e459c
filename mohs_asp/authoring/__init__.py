"""The author's tools: `mohs-asp lint` (lint, lint_data, graph, quotes, finding), `mohs-asp test`
(policy_tests reads the test files, runner runs them) and `mohs-asp diff`."""
