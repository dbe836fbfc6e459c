"""The rule model (mohs_asp/policy/rulebook.py, rule.py, rule_ast.py): the logic files parsed once into
rules with their ids, quotes, words, heads, bodies and source lines, which lint, the firing
records, `rules` and explanations all read; and `check` never reads more of it than it needs."""

import subprocess
import sys
from pathlib import Path

from mohs_asp.authoring.graph import RuleGraph
from mohs_asp.authoring.lint import lint_policy
from mohs_asp.policy.load import Policy
from mohs_asp.policy.rulebook import Rulebook
from helpers import copy_policy

EXAMPLE = Path(__file__).resolve().parent / "examples" / "nose-bcc-covered.case.json"


def write_rules(copy, text: str) -> None:
    (copy / "logic" / "extra.lp").write_text(text)
    main = copy / "logic" / "main.lp"
    main.write_text(main.read_text() + '\n#include "extra.lp".\n')


def test_a_rule_carries_its_id_quote_words_head_and_source(policy):
    rule = policy.rules_by_id["large_lesion"]
    assert rule.source.startswith("logic/indications.lp:")
    assert rule.policy.startswith("Exceptionally large-sized lesions")
    assert rule.head == ("indication", 3)
    assert rule.kind == "atom"
    assert [u.key for u in rule.uses][:1] == [("size_um", 3)]
    assert set(rule.placeholders) <= set(rule.variables)
    assert rule.listing() == {"id": "large_lesion", "source": rule.source, "policy": rule.policy}


def test_a_rule_s_variables_leave_out_those_local_to_an_aggregate(policy):
    rule = policy.rules_by_id[next(r.id for r in policy.rules if r.head == ("biopsy_lesions", 3))]
    assert "#count" in str(rule.node)
    assert rule.variables == ("C", "N", "K")  # L is the aggregate's own


def test_the_body_is_read_into_literals_with_their_terms(policy):
    rule = policy.rules_by_id["large_lesion"]
    kinds = [lit.kind for lit in rule.body]
    assert kinds[0] == "pos" and "cmp" in kinds
    assert rule.body[0].name == "size_um" and [t.kind for t in rule.body[0].args] == ["var", "var", "var"]
    assert [t.name for t in rule.head_terms] == ["C", "L", ""]


def test_a_rule_under_a_quoted_paragraph_of_one_sentence_cites_it(tmp_path):
    copy = copy_policy(tmp_path / "p")
    write_rules(copy, """
% # Large lesions
% > Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region.

% rule: big_one
big(C,L) :- size_um(C,L,S), S >= 30000.

% rule: big_two
% reading: "Every size is compared exactly."
big_two(C,L) :- big(C,L).

% > Lesions without the benefit of tissue preservation.

% rule: big_three
big_three(C,L) :- big(C,L).
""")
    book = Rulebook(copy)
    rules = {r.id: r for r in book.rules}
    large = "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
    assert rules["big_one"].policy == large and rules["big_one"].paragraph == large
    assert rules["big_two"].policy == large and rules["big_two"].reading == "Every size is compared exactly."
    assert rules["big_three"].policy == "Lesions without the benefit of tissue preservation."
    assert not [r for r in book.unannotated if r.file == "logic/extra.lp"]


def test_a_heading_quote_reaches_no_other_file_and_no_rule_above_it(tmp_path):
    copy = copy_policy(tmp_path / "p")
    write_rules(copy, """
% rule: before_any_heading
early(C,L) :- lesion(C,L).

% policy: "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
""")
    policy = Policy(copy)
    early = policy.rules_by_id["before_any_heading"]
    assert early.policy is None and early in policy.unannotated
    assert policy.rules_by_id["large_lesion"].policy.startswith("Exceptionally")  # its own, unchanged
    findings = [str(f) for f in lint_policy(copy).errors]
    assert any("rule before_any_heading quotes no policy sentence" in f for f in findings), findings


def test_the_rule_graph_is_read_off_the_model(policy):
    graph = RuleGraph(policy)
    assert ("size_um", 3) in graph.reach[("indication", 3)]
    assert graph.dormant() == {}


def test_check_reads_no_more_of_the_rules_than_their_heads():
    """`check` parses the logic files (it grounds them) but never walks a rule's AST in Python:
    the module that reads the parts lint and explanations use is not even imported (in the
    command or in any process it starts: -X importtime reports every import on stderr)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "mohs_asp", "check", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "mohs_asp.policy.rulebook" in imported and "mohs_asp.policy.rule" in imported
    assert not imported & {"mohs_asp.policy.rule_ast", "mohs_asp.authoring.graph", "mohs_asp.authoring.lint", "mohs_asp.explain.why"}


def test_a_rule_s_safe_order_binds_each_variable_before_a_comparison_or_not_reads_it(tmp_path):
    copy = copy_policy(tmp_path / "p")
    write_rules(copy, """
% rule: ordered
% policy: "Exceptionally large-sized lesions (2.0 cm or greater) in any anatomic region."
big(C,L) :- S >= 30000, not recurrent(C,L,true), size_um(C,L,S), lesion(C,L).
""")
    rule = next(r for r in Rulebook(copy).rules if r.id == "ordered")
    assert [lit.kind for lit in rule.body] == ["cmp", "neg", "pos", "pos"]
    assert [lit.kind for lit in rule.safe_order()] == ["pos", "cmp", "neg", "pos"]
    assert [lit.kind for lit in rule.safe_order({"C", "L", "S"})] == ["cmp", "neg", "pos", "pos"]
