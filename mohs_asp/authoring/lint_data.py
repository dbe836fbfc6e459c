"""`mohs-asp lint`'s checks of a policy's data (mohs_asp/authoring/lint.py runs them): the data files'
own consistency, their dates (temporal coverage) and the list of covered ICD-10-CM codes
against the newest release the policy folder has. The module docstring of lint.py lists
what each finds.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from ..policy import icd10
from ..policy.dates import OPEN_END, next_day, previous_day, show_date, span_words
from .finding import Finding
from ..policy.load import METADATA, Policy, policy_span
from ..policy.data import CODE_SHAPE, DatedRow


def check_data(policy: Policy) -> list[Finding]:
    out = []
    tables = policy.data.tables  # the rows load_data read
    rows = tables["code_sets.csv"]
    days = {r.line: (r.effective_from, r.effective_to) for r in policy.data.rows if r.file == "data/code_sets.csv"}
    spans = []
    for lineno, row in rows:
        first, last = row["first"].upper(), row["last"].upper()
        lo, hi = (int(first), int(last)) if first.isdigit() and last.isdigit() else (first, last)
        spans.append((row["set"], lo, hi, lineno))
    for i, (s1, lo1, hi1, l1) in enumerate(spans):
        for s2, lo2, hi2, l2 in spans[:i]:
            (start1, end1), (start2, end2) = days.get(l1, (0, OPEN_END)), days.get(l2, (0, OPEN_END))
            if type(lo1) is type(lo2) and lo1 <= hi2 and lo2 <= hi1 and start1 <= end2 and start2 <= end1:
                if s1 != s2:
                    out.append(Finding("error", f"data/code_sets.csv:{l1}", f"{s1} {lo1}-{hi1} overlaps {s2} {lo2}-{hi2} "
                                                                            f"(line {l2}): code sets must not share a code"))
                else:
                    out.append(Finding("warning", f"data/code_sets.csv:{l1}", f"{s1} {lo1}-{hi1} repeats codes of line {l2}"))
    mms = [c for s, lo, hi in policy.data.code_ranges if s == "mms" for c in range(lo, hi + 1)]
    mms_codes = {f"{c:05d}" for c in mms}
    staged: dict[str, str] = {}
    for lineno, row in tables["mms_codes.csv"]:
        where, code = f"data/mms_codes.csv:{lineno}", row["code"]
        if not CODE_SHAPE.fullmatch(code):
            out.append(Finding("error", where, f"{code!r} is not a 5-character CPT/HCPCS code"))
        elif code not in mms_codes:
            out.append(Finding("error", where, f"{code} is not in the mms code set of data/code_sets.csv"))
        staged[code] = row["stage"]  # a code listed twice on the same days: check_dates says so
    for lineno, row in tables["mms_codes.csv"]:
        for primary in row["primary"].split():
            if staged.get(primary) != "first":
                out.append(Finding("error", f"data/mms_codes.csv:{lineno}", f"{row['code']} needs primary {primary}, "
                                                                            f"which is not a first-stage code of this file"))
        if row["stage"] == "additional" and not row["primary"].split():
            out.append(Finding("error", f"data/mms_codes.csv:{lineno}", f"add-on code {row['code']} names no primary"))
    for code in sorted(mms_codes - set(staged)):
        out.append(Finding("warning", "data/mms_codes.csv", f"{code} is in the mms code set but has no row here "
                                                            f"(no stage or family: its coding edits cannot apply)"))
    for lineno, row in tables["sites.csv"]:
        if row["tissue_preservation"] == "yes" and not row["area"]:
            out.append(Finding("warning", f"data/sites.csv:{lineno}", f"site {row['site']} is a tissue-preservation area "
                                                                      f"but names no area (ears, face, ...)"))
        if row["tissue_preservation"] == "no" and row["area"]:
            out.append(Finding("warning", f"data/sites.csv:{lineno}", f"site {row['site']} names area {row['area']} "
                                                                      f"but is not a tissue-preservation area"))
    return out


# what one row gives a value of, in each file whose rows are parameters (one in force a day)
PARAMETERS = {"data/thresholds.csv": "threshold", "data/sites.csv": "site", "data/histology.csv": "histology term",
              "data/mms_codes.csv": "MMS code"}
LISTS = {"data/covered_diagnoses.csv": "covered code", "data/code_sets.csv": "code range"}


def check_dates(policy: Policy) -> list[Finding]:
    """Temporal coverage: for every day of the policy exactly one version, and exactly one row
    of each dated parameter, in force."""
    out: list[Finding] = []
    first, last = policy_span(policy.versions)
    versions = policy.versions
    for before, after in zip(versions, versions[1:]):
        where = f"{METADATA}:{after.line}"
        if after.effective_from <= before.effective_to:
            out.append(Finding("error", where, f"version {after.name} ({span_words(after.effective_from, after.effective_to)}) "
                                               f"overlaps version {before.name} ({span_words(before.effective_from, before.effective_to)})"
                                               ": one version must be in force a day"))
        elif after.effective_from > next_day(before.effective_to):
            out.append(Finding("error", where, f"no version is in force {span_words(next_day(before.effective_to), previous_day(after.effective_from))}"
                                               f" (between versions {before.name} and {after.name}): cases of those days would be invalid"))
    starts = {v.effective_from for v in versions}
    by_key: dict[tuple[str, str], list[DatedRow]] = defaultdict(list)
    for row in policy.data.rows:
        by_key[(row.file, row.key)].append(row)
        where = f"{row.file}:{row.line}"
        if row.dated and (row.effective_to < first or row.effective_from > last):
            out.append(Finding("warning", where, f"the row is never in force: it is in force "
                                                 f"{span_words(row.effective_from, row.effective_to)}, the policy {span_words(first, last)}"))
            continue
        changes = [show_date(d) for d in (row.effective_from, next_day(row.effective_to)) if first < d <= last and d not in starts]
        if row.dated and changes:
            out.append(Finding("warning", where, f"the data changes on {' and '.join(changes)}, but no version of {METADATA} "
                                                 f"begins {'that day' if len(changes) == 1 else 'those days'}: add one saying "
                                                 f"what changed"))
    for (file, key), rows in by_key.items():
        rows = sorted(rows, key=lambda r: (r.effective_from, r.line))
        what = PARAMETERS.get(file) or LISTS.get(file)
        if what is None:
            continue
        severity = "error" if file in PARAMETERS else "warning"
        covered = first  # the first day of the policy not yet in force for this key
        for i, row in enumerate(rows):
            where = f"{file}:{row.line}"
            if i and row.effective_from <= rows[i - 1].effective_to:
                out.append(Finding(severity, where, f"{what} {key} is in force twice {span_words(row.effective_from, min(row.effective_to, rows[i - 1].effective_to))} "
                                                    f"(also line {rows[i - 1].line})" + (": one value must be in force a day" if severity == "error" else "")))
            if file in PARAMETERS and row.effective_from > covered and covered <= last:
                out.append(Finding("error", where, f"{what} {key} has no row in force {span_words(covered, min(previous_day(row.effective_from), last))}: "
                                                   f"every day of the policy needs one"))
            covered = max(covered, next_day(row.effective_to))
        if file in PARAMETERS and covered <= last:
            out.append(Finding("error", f"{file}:{rows[-1].line}", f"{what} {key} has no row in force "
                                                                   f"{span_words(covered, last)}: every day of the policy needs one"))
    releases = policy.icd10.all
    for before, after in zip(releases, releases[1:]):
        if after.effective_from <= before.effective_to:
            out.append(Finding("error", after.file, f"ICD-10-CM release {after.name} ({span_words(after.effective_from, after.effective_to)}) "
                                                    f"overlaps {before.name} ({span_words(before.effective_from, before.effective_to)}), "
                                                    f"{before.file}: one release must judge a day"))
    return out


def _describe(codes: list[str]) -> dict[str, str]:
    """ICD-10-CM descriptions (importing simple_icd_10_cm parses its XML: about 1.5 s)."""
    try:
        with warnings.catch_warnings():  # its use of importlib.resources is deprecated, not ours to fix
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm as icd
    except ImportError:  # the code list alone still says what is billable
        return {}
    return {c: icd.get_description(c) if icd.is_valid_item(c) else "" for c in codes}


def check_diagnoses(policy: Policy) -> tuple[list[Finding], str]:
    codes = policy.icd10.latest.codes()
    rel = f"ICD-10-CM {codes.release}"
    out = []
    listed: dict[str, int] = {}
    families: set[str] = set()
    nonbillable: list[tuple[str, int, list[str]]] = []
    for code, lineno in policy.data.covered_diagnoses:
        where = f"data/covered_diagnoses.csv:{lineno}"
        norm = icd10.normalize(code)
        if norm != code.upper():
            out.append(Finding("error", where, f"{code} is not written as cases are compared (upper case, dot after "
                                               f"the category): write {norm}, or no case can ever match it"))
            continue
        if norm in listed:  # listed again (check_dates warns when it is on the same days)
            continue
        listed[norm] = lineno
        kind = codes.kind(norm)
        if kind is None:
            out.append(Finding("error", where, f"{norm} is not a code of {rel} (a typo, or a code deleted from the code "
                                               f"set): no case can carry it"))
            continue
        bare = norm.replace(".", "")
        families.update(icd10.normalize(bare[:n]) for n in range(4, len(bare) + 1) if codes.kind(bare[:n]) == "category")
        if kind == "category":
            nonbillable.append((norm, lineno, codes.billable_under(norm)))
    missing = sorted({c for f in families for c in codes.billable_under(f)} - set(listed))
    below = {c for _, _, children in nonbillable for c in children}
    described = _describe(sorted(below | set(missing))) if below or missing else {}
    for norm, lineno, children in nonbillable:
        out.append(Finding("warning", f"data/covered_diagnoses.csv:{lineno}",
                           f"{norm} is no longer billable in {rel}, so no case can carry it; list the "
                           f"{len(children)} codes below it instead:",
                           tuple(f"{c:<9} {described.get(c, '')}".rstrip() for c in children)))
    for code in missing:
        if code in below:
            why = f"it replaces listed {next(p for p, _, ch in nonbillable if code in ch)}"
        else:
            family = next(f for f in sorted(families, key=len) if code.replace(".", "").startswith(f.replace(".", "")))
            why = f"a billable code of listed family {family}"
        out.append(Finding("warning", "data/covered_diagnoses.csv",
                           f"{code} is not on the list: {described.get(code) or '(no description)'} ({why})"))
    return out, codes.release
