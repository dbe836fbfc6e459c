from pathlib import Path

import pytest

from mohs_asp.policy import load_policy

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def policy():
    return load_policy()
