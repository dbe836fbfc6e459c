import os
from pathlib import Path

import pytest
from hypothesis import settings

from mohs_asp.policy import load_policy

TESTS = Path(__file__).resolve().parent

# Property tests (tests/test_properties.py): few examples in the normal run (CI: a few seconds),
# many with HYPOTHESIS_PROFILE=deep. No deadline: solving time is not what they test.
settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("deep", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def policy():
    return load_policy()
