"""The policy as a pack (mohs_asp/policy/pack.py): `mohs-asp init` copies it, and the installed
package ships it whole, its policy tests included."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXE

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")


def run(*args, cwd=None, env=None, exe=None):
    return subprocess.run([exe or EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def policy_cases() -> int:
    """The project's policy tests, counted case by case (a file of several counts each)."""
    from mohs_asp.authoring.policy_tests import discover, read_tests

    return sum(len(read_tests(p)) for p in discover([str(TESTS / folder) for folder in ("policy", "invalid", "examples")]))


def pack_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@needs_exe
def test_init_copies_the_pack_and_nothing_else_and_the_copy_passes_its_tests(tmp_path):
    result = run("init", "my-policy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "my-policy"
    files = pack_files(copy)
    expected = {"policy.toml"} | {f"logic/{p.name}" for p in (ROOT / "logic").glob("*.lp")} \
        | {p.relative_to(ROOT).as_posix() for p in (ROOT / "data").rglob("*") if p.is_file()} \
        | {p.relative_to(ROOT).as_posix() for folder in ("policy", "invalid", "examples") for p in (TESTS / folder).iterdir()} \
        | {f"docs/contract/{p.name}" for p in (ROOT / "docs" / "contract").iterdir()}
    assert files == expected
    assert not any(f.endswith(".py") or "__pycache__" in f for f in files)  # no pytest module, no cache
    assert (copy / "policy.toml").read_text() == (ROOT / "policy.toml").read_text()
    tests = sum(1 for f in files if f.startswith("tests/"))
    assert result.stdout.splitlines() == [
        "Copied the policy mohs-micrographic-surgery 1.0 into my-policy:",
        "  policy.toml",
        "  logic/          7 files",
        f"  data/           {sum(1 for f in files if f.startswith('data/'))} files",
        f"  tests/          {tests} files",
        "  docs/contract/  4 files",
        "Edit its logic/ and data/ (docs/authoring.md), then:",
        "  mohs-asp lint --policy my-policy",
        "  mohs-asp test --policy my-policy",
    ]
    lint = run("lint", "--policy", "my-policy", cwd=tmp_path)
    assert lint.returncode == 0 and lint.stdout.splitlines()[-1].startswith("0 errors"), lint.stdout
    test = run("test", "--policy", "my-policy", "--format", "json", cwd=tmp_path)  # no PATH: the copy's own tests
    report = json.loads(test.stdout)
    assert test.returncode == 0 and report["tests"] == report["passed"] == policy_cases() > 400
    assert report["policy"] == str(copy)


@needs_exe
def test_init_refuses_a_folder_that_is_not_empty_and_leaves_it_alone(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    result = run("init", tmp_path / "taken")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'taken'} already exists and is not an empty folder" in result.stderr
    assert pack_files(tmp_path / "taken") == {"notes.txt"}
    (tmp_path / "empty").mkdir()  # an empty folder is taken as it is
    assert run("init", tmp_path / "empty").returncode == 0 and (tmp_path / "empty" / "logic" / "main.lp").is_file()
    (tmp_path / "a-file").write_text("")
    assert run("init", tmp_path / "a-file").returncode == 2


@needs_exe
def test_init_copies_an_authors_pack_with_the_folders_its_policy_toml_names(tmp_path):
    assert run("init", tmp_path / "first").returncode == 0
    first = tmp_path / "first"
    (first / "tests").rename(first / "cases")
    (first / "docs" / "contract").rename(first / "texts")
    toml = first / "policy.toml"
    toml.write_text(toml.read_text().replace('version = "1.0"', 'version = "1.1"')
                    .replace('tests = "tests"', 'tests = "cases"').replace('texts = "docs/contract"', 'texts = "texts"'))
    result = run("init", tmp_path / "second", "--policy", first)
    assert result.returncode == 0, result.stderr
    assert "mohs-micrographic-surgery 1.1" in result.stdout and "  cases/" in result.stdout and "  texts/" in result.stdout
    assert pack_files(tmp_path / "second") == pack_files(first)
    assert run("lint", "--policy", tmp_path / "second").returncode == 0
    assert run("test", "--policy", tmp_path / "second").returncode == 0


@needs_exe
@pytest.mark.parametrize("table, says", [
    ('[pack]\ntests = "../elsewhere"\n', '[pack] tests must be a folder inside the pack'),
    ('[pack]\ntexts = "/etc"\n', '[pack] texts must be a folder inside the pack'),
    ('[pack]\nversion = 1\n', '[pack] version must be text'),
    ('[pack]\ntest = "tests"\n', '[pack] has no field test'),
])
def test_a_pack_table_that_is_wrong_is_a_broken_policy(tmp_path, table, says):
    assert run("init", tmp_path / "p").returncode == 0
    toml = tmp_path / "p" / "policy.toml"
    text = toml.read_text()
    toml.write_text(text[:text.index("\n[pack]\n") + 1] + table)  # [pack] is the file's last table
    result = run("init", tmp_path / "q", "--policy", tmp_path / "p")
    assert result.returncode == 3 and says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "q").exists()
    assert run("test", "--policy", tmp_path / "p").returncode == 3


def test_a_plain_install_runs_the_shipped_policy_tests_from_any_folder(tmp_path):
    """`pip install .` (a wheel, not editable), then `mohs-asp test` with no PATH, from a folder
    that is not the project's: it runs the policy tests the package ships, every one."""
    source = tmp_path / "source"  # a clean copy: no build/ left over from an earlier build
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "policy.toml"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("mohs_asp", "logic", "data", "docs", "tests"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", source],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("mohs_asp-*.whl")
    target = tmp_path / "installed"
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", target, wheel], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy first; its dependencies from this environment
    exe = target / "bin" / "mohs-asp"
    where = subprocess.run([sys.executable, "-c", "import mohs_asp; print(mohs_asp.__file__)"], capture_output=True,
                           text=True, cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).parent == target / "mohs_asp"  # not the project's source
    result = run("test", "--format", "json", cwd=elsewhere, env=env, exe=exe)
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["policy"] == str(target / "mohs_asp")
    assert report["tests"] == report["passed"] == policy_cases() > 400
    assert report["fired"] == report["rules"] and report["uncovered"] == []
    text = run("test", cwd=elsewhere, env=env, exe=exe)
    assert text.returncode == 0 and text.stdout.splitlines()[-1].startswith(f"{policy_cases()} tests: {policy_cases()} passed")
    lint = run("lint", cwd=elsewhere, env=env, exe=exe)  # the quotes are checked against the shipped texts
    assert lint.returncode == 0, lint.stdout
    copied = run("init", "my-policy", cwd=elsewhere, env=env, exe=exe)  # and the installed pack copies whole
    assert copied.returncode == 0, copied.stderr
    assert run("test", "--policy", "my-policy", cwd=elsewhere, env=env, exe=exe).returncode == 0
