import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from mohs_asp.policy.load import load_policy

TESTS = Path(__file__).resolve().parent

# compiled templates (mohs_asp/engine/fastpath/cache.py) go to a folder of this run, not the user's cache
if "MOHS_ASP_CACHE" not in os.environ:
    os.environ["MOHS_ASP_CACHE"] = _CACHE = tempfile.mkdtemp(prefix="mohs-asp-test-cache-")
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

# Property tests (tests/test_properties.py): few examples in the normal run (CI: a few seconds),
# many with HYPOTHESIS_PROFILE=deep. No deadline: solving time is not what they test.
settings.register_profile("ci", max_examples=40, deadline=None)
settings.register_profile("deep", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def policy():
    return load_policy()
