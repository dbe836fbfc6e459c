"""The policy as a pack: the folder an author owns, and `mohs-asp init`, which copies one.

A pack is `policy.toml` (the policy's id, title, source and versions, and its `[pack]` table),
`logic/`, `data/`, its policy tests and the texts its rules quote. `[pack]` says where the
last two are, relative to the pack's folder:

    [pack]
    version = "1.0"          # the pack's own revision (the payer's versions are [[versions]])
    tests = "tests"          # every *.yaml, *.yml and *.json below it is a policy test
    texts = "docs/contract"  # policy-source.txt (the payer's text) and the readings

Left out, `tests` is "tests" and `texts` "docs/contract". The installed package holds the
project's own pack (mohs_asp/ is its folder: mohs_asp/tests, mohs_asp/docs/contract), so
`mohs-asp test` with no PATH runs the shipped policy's tests wherever it is run from.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import PolicyError, UsageError

TEST_SUFFIXES = (".yaml", ".yml", ".json")  # a policy test file (mohs_asp/authoring/policy_tests.py reads them)

METADATA = "policy.toml"
TESTS = "tests"
TEXTS = "docs/contract"
TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Pack:
    root: Path
    version: str | None
    tests: str  # folder of the policy tests, relative to root (posix)
    texts: str  # folder of the quoted texts, relative to root (posix)

    @property
    def tests_dir(self) -> Path:
        return self.root / self.tests

    @property
    def texts_dir(self) -> Path:
        return self.root / self.texts


def read_pack(root: Path, metadata: dict) -> Pack:
    """The `[pack]` table of a policy's metadata (defaults where it says nothing)."""
    table = metadata.get("pack", {})
    if not isinstance(table, dict):
        raise PolicyError(f"{METADATA}: pack must be a table ([pack]), not a value")
    unknown = sorted(set(table) - {"version", "tests", "texts"})
    if unknown:
        raise PolicyError(f"{METADATA}: [pack] has no field {unknown[0]}; its fields are version, tests, texts")
    version = table.get("version")
    if version is not None and (not isinstance(version, str) or not version.strip()):
        raise PolicyError(f"{METADATA}: [pack] version must be text (\"1.0\")")
    return Pack(root, version, _folder(table, "tests", TESTS), _folder(table, "texts", TEXTS))


def _folder(table: dict, key: str, default: str) -> str:
    value = table.get(key, default)
    path = PurePosixPath(value) if isinstance(value, str) and value.strip() else None
    if path is None or path.is_absolute() or ".." in path.parts or "\\" in value:
        raise PolicyError(f"{METADATA}: [pack] {key} must be a folder inside the pack, as a relative path "
                          f"(\"{default}\"), not {value!r}")
    return path.as_posix()


def test_files(pack: Pack) -> list[Path]:
    """The pack's policy tests: every test file below its tests folder (example pairs whole)."""
    if not pack.tests_dir.is_dir():
        return []
    return sorted(p for p in pack.tests_dir.rglob("*") if p.suffix in TEST_SUFFIXES and p.is_file()
                  and "__pycache__" not in p.parts)


def pack_files(pack: Pack) -> list[Path]:
    """Every file of the pack, relative to its folder: policy.toml, logic/*.lp, data/ (all of
    it), the policy tests and the quoted texts. Nothing else (no Python, no caches)."""
    root = pack.root
    out = [Path(METADATA)]
    for part, suffixes in (("logic", (".lp",)), ("data", (".csv", ".txt"))):
        out.extend(sorted(p.relative_to(root) for p in (root / part).rglob("*")
                          if p.is_file() and p.suffix in suffixes and "__pycache__" not in p.parts))
    out.extend(p.relative_to(root) for p in test_files(pack))
    if pack.texts_dir.is_dir():
        out.extend(sorted(p.relative_to(root) for p in pack.texts_dir.iterdir()
                          if p.is_file() and p.suffix in TEXT_SUFFIXES))
    return out


def copy_pack(pack: Pack, dest: Path) -> list[Path]:
    """Copy the pack to `dest`, a folder that does not exist yet or is empty; the files copied
    (relative). Written into a temporary folder beside `dest` and renamed: a failed copy
    leaves nothing behind."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} already exists and is not an empty folder: give a new folder to copy the policy into")
    files = pack_files(pack)
    staging = dest.with_name(f".{dest.name}.copying")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        for rel in files:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(pack.root / rel, target)  # a link (mohs_asp/policy.toml in a checkout) as its content
        if dest.exists():
            dest.rmdir()
        staging.rename(dest)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot copy the policy to {dest}: {e.strerror or e}") from None
    return files
