"""The parsed policy kept on disk (mohs_asp/policy/load.py, in the folder of mohs_asp/policy/disk_cache.py):
a policy from the cache answers as a freshly parsed one; a changed logic, data or included file,
or another version, is never served a stale policy; a cache that cannot be written or read still
answers; MOHS_ASP_CACHE=off bypasses it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import clingo
import pytest
from helpers import EXE, copy_policy, policy_tests

import mohs_asp
from mohs_asp.policy import disk_cache
from mohs_asp.policy import rule as rule_module
from mohs_asp.engine.fastpath import template as template_module
from mohs_asp.policy import load as policy_module
from helpers import check as check_document
from mohs_asp import api
from mohs_asp.case.check import parse_case
from mohs_asp.policy.load import Policy, default_root

EXAMPLES = Path(__file__).resolve().parent / "examples"
LARGE = EXAMPLES / "leg-large-scc.case.json"  # covered by its size alone (2.4 cm, the threshold 2.0 cm)
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.policy"))


def load(root: Path) -> Policy:
    """What a new process's load_policy does (its once-per-process memo aside): the cache, else a build."""
    return policy_module._load.__wrapped__(str(root.resolve()))


def check(case: Path, cache, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MOHS_ASP_CACHE": str(cache)}
    return subprocess.run([EXE, "check", str(case), "--format", "json", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def parsed(policy: Policy) -> tuple:
    """What the rule model and the data hold, as plain values."""
    return ([(r.id, r.source, r.policy, r.because, r.reading, r.head, r.paragraph, r.helper, str(r.node))
             for r in policy.rules], list(map(str, policy.statements)), policy.predicates, policy.messages,
            [r.id for r in policy.unannotated], policy.data.facts, policy.metadata,
            [(v.name, v.effective_from, v.effective_to) for v in policy.versions],
            [(r.name, r.effective_from, r.effective_to, r.file) for r in policy.icd10.all], policy.digest)


def test_a_policy_from_the_cache_is_the_parsed_one_and_answers_every_case_alike(monkeypatch, tmp_path):
    monkeypatch.setenv(disk_cache.CACHE_VARIABLE, str(tmp_path))
    built = load(default_root())
    assert len(entries(tmp_path)) == 1
    cached = policy_module._cached(default_root())
    assert cached is not None and cached is not built
    assert load(default_root()) is not built  # a second process takes it from the cache
    assert parsed(cached) == parsed(built)
    assert [rule.variables_named(cached.predicates, "L") for rule in cached.rules] == \
        [rule.variables_named(built.predicates, "L") for rule in built.rules]
    docs = [t.doc for t in policy_tests()] + [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.case.json"))]
    assert [check_document(doc, cached) for doc in docs] == [check_document(doc, built) for doc in docs]
    valid = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.case.json")) if "invalid" not in p.name]
    assert list(api.answer([parse_case(d, cached) for d in valid], cached, explain=True)) == \
        list(api.answer([parse_case(d, built) for d in valid], built, explain=True))


@needs_exe
def test_a_changed_data_or_logic_file_is_picked_up_and_an_unchanged_one_served_from_the_cache(tmp_path):
    root = copy_policy(tmp_path / "policy")
    cache = tmp_path / "cache"
    first = check(LARGE, cache, "--policy", str(root))
    assert first.returncode == 0 and json.loads(first.stdout)["decision"] == "covered"
    assert len(entries(cache)) == 1
    assert check(LARGE, cache, "--policy", str(root)).stdout == first.stdout  # from the cache

    thresholds = root / "data" / "thresholds.csv"
    shipped = thresholds.read_text(encoding="utf-8")
    thresholds.write_text(shipped.replace("large_lesion_min,2.0,cm", "large_lesion_min,3.0,cm"), encoding="utf-8")
    raised = check(LARGE, cache, "--policy", str(root))
    assert raised.returncode == 1 and json.loads(raised.stdout)["decision"] == "not_covered"
    assert len(entries(cache)) == 2

    claims = root / "logic" / "claims.lp"
    claims.write_text(claims.read_text(encoding="utf-8").replace(
        '% because: "diagnosis {D} is not on the covered list"', '% because: "diagnosis {D} is not a covered one"'),
        encoding="utf-8")
    worded = check(LARGE, cache, "--policy", str(root))
    assert json.loads(worded.stdout)["decision"] == "not_covered" and len(entries(cache)) == 3
    assert check(EXAMPLES / "diagnosis-not-listed.case.json", cache, "--policy", str(root)).stdout.count(
        "is not a covered one") == 1

    thresholds.write_text(shipped, encoding="utf-8")  # back as it was: the entry of that content again
    claims.write_text((default_root() / "logic" / "claims.lp").read_text(encoding="utf-8"), encoding="utf-8")
    assert check(LARGE, cache, "--policy", str(root)).stdout == first.stdout
    assert len(entries(cache)) == 3


def test_a_changed_file_included_from_outside_logic_is_picked_up(monkeypatch, tmp_path):
    """The pack's digest covers logic/, data/ and policy.toml; a logic file may include one from
    elsewhere in the folder, and the entry checks that one too."""
    monkeypatch.setenv(disk_cache.CACHE_VARIABLE, str(tmp_path / "cache"))
    root = copy_policy(tmp_path / "policy")
    (root / "shared").mkdir()
    (root / "logic" / "claims.lp").rename(root / "shared" / "claims.lp")
    main = root / "logic" / "main.lp"
    main.write_text(main.read_text(encoding="utf-8").replace('#include "claims.lp".', '#include "../shared/claims.lp".'),
                    encoding="utf-8")
    before = load(root)
    assert policy_module._cached(root) is not None
    moved = root / "shared" / "claims.lp"
    moved.write_text(moved.read_text(encoding="utf-8").replace('"every MMS line is payable"', '"all MMS lines pay"'),
                     encoding="utf-8")
    assert policy_module._cached(root) is None  # that entry is not this policy's any more
    after = load(root)
    assert [r.because for r in after.rules if r.id == "decision_covered"] == ["all MMS lines pay"]
    assert [r.because for r in before.rules if r.id == "decision_covered"] == ["every MMS line is payable"]


@pytest.mark.parametrize("version", ["mohs_asp", "clingo", "python"])
def test_another_version_is_another_entry(version, monkeypatch):
    root, digest = default_root(), policy_module.pack_digest(default_root())
    before = policy_module._cache_name(root, digest)
    if version == "mohs_asp":
        monkeypatch.setattr(policy_module, "__version__", "0.0.0-other")
    elif version == "clingo":
        monkeypatch.setattr(clingo, "__version__", "5.99.0")
    else:
        monkeypatch.setattr(sys, "version", "3.99.0 (other)")
    assert policy_module._cache_name(root, digest) != before


def test_an_edited_module_of_the_package_is_another_entry(monkeypatch, tmp_path):
    """A module edited in place (its size or modification time: what Python's own bytecode cache
    checks) names another entry: a working copy's edits never meet a policy parsed before them."""
    package = Path(mohs_asp.__file__).parent
    copy = tmp_path / "mohs_asp"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                    copy_function=shutil.copy2)  # names, sizes and times as they are
    root, digest = default_root(), policy_module.pack_digest(default_root())
    before = policy_module._cache_name(root, digest)
    monkeypatch.setattr(policy_module, "__file__", str(copy / Path(policy_module.__file__).relative_to(package)))
    assert policy_module._cache_name(root, digest) == before
    for edited in (rule_module, template_module):  # a module of a subpackage too
        module = copy / Path(edited.__file__).relative_to(package)
        info = module.stat()
        os.utime(module, ns=(info.st_atime_ns, info.st_mtime_ns + 1000))
        assert policy_module._cache_name(root, digest) != before
        before = policy_module._cache_name(root, digest)


@pytest.mark.parametrize("spoil", ["garbage", "truncated"])
def test_a_spoilt_entry_is_built_again_and_replaced(spoil, monkeypatch, tmp_path):
    monkeypatch.setenv(disk_cache.CACHE_VARIABLE, str(tmp_path))
    built = load(default_root())
    (entry,) = entries(tmp_path)
    entry.write_bytes(b"not a policy" if spoil == "garbage" else entry.read_bytes()[:1000])
    assert policy_module._cached(default_root()) is None
    again = load(default_root())
    assert parsed(again) == parsed(built)
    assert policy_module._cached(default_root()) is not None  # written whole again


@needs_exe
def test_a_cache_that_cannot_be_written_still_answers(tmp_path):
    (tmp_path / "a-file").write_text("a file where the cache folder would go")
    off = check(LARGE, "off")
    stuck = check(LARGE, tmp_path / "a-file" / "cache")
    assert (stuck.returncode, stuck.stdout, stuck.stderr) == (off.returncode, off.stdout, off.stderr) == \
        (0, off.stdout, "")


@needs_exe
def test_cache_off_reads_and_writes_nothing(tmp_path):
    cache = tmp_path / "cache"
    assert check(LARGE, cache).returncode == 0 and len(entries(cache)) == 1
    home = tmp_path / "home"
    env = {**os.environ, "MOHS_ASP_CACHE": "off", "XDG_CACHE_HOME": str(tmp_path / "xdg"), "HOME": str(home)}
    result = subprocess.run([EXE, "check", str(LARGE)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0
    assert not (tmp_path / "xdg").exists() and not home.exists()


def test_cache_off_bypasses_an_entry_that_is_there(monkeypatch, tmp_path):
    monkeypatch.setenv(disk_cache.CACHE_VARIABLE, str(tmp_path))
    load(default_root())
    assert policy_module._cached(default_root()) is not None
    monkeypatch.setenv(disk_cache.CACHE_VARIABLE, "off")
    assert policy_module._cached(default_root()) is None
    assert load(default_root()).rules  # built as always
