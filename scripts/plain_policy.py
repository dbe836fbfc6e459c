#!/usr/bin/env python3
"""The yardstick for scripts/bench_batch.py: the policy restated, on purpose, in plain Python.

    python scripts/plain_policy.py INPUT.jsonl OUTPUT.jsonl [--policy DIR] [--digest HEX] [--engine-version V]

It reads a JSON Lines file of cases and writes one answer a line, in the shape `mohs-asp
batch` writes (each line's lesion or lesions, rules and reasons: the rules' `% because:`
words, restated in BECAUSE), in one plain process: json in, a light check of the case, the
policy as Python `if`s, json out. It exists only to measure against: it is NOT part of the package
(nothing in mohs_asp imports it, and it imports nothing of mohs_asp), it checks far less
than `mohs-asp` does (an invalid case gets `"status": "invalid"` without the list of its
errors), and it must be edited by hand when the policy changes. bench_batch.py compares
its answers to batch's on every valid case, so a stale yardstick shows as a mismatch.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("recurrent", "incompletely_excised", "previously_irradiated", "rapid_growth",
         "high_risk_metastasis", "deep_structures")
# rule ids in the order of the source (logic/main.lp includes indications, diagnosis, claims)
ORDER = ["in_force", "aggressive_sclerotic", "aggressive_morpheaform", "aggressive_fibrosing",
         "aggressive_metatypical_infiltrative_spiky", "aggressive_perineural_perivascular",
         "aggressive_nuclear_pleomorphism", "aggressive_high_mitotic_activity", "aggressive_superficial_multicentric",
         "high_risk_area", "recurrent", "incompletely_excised", "irradiated_skin", "aggressive_behavior", "rapid_growth",
         "ill_defined_borders", "immunosuppressed", "high_risk_metastasis", "tissue_preservation", "large_lesion",
         "mms_not_medically_necessary", "mms_diagnosis_not_covered", "mms_wrong_family",
         "mms_deep_structures_wrong_family", "mms_addon_without_primary", "mms_payable", "frozen_section_bundled",
         "surgical_pathology_bundled", "biopsy_bundled", "biopsy_units_not_separate_lesions",
         "biopsy_lesion_already_biopsied", "biopsy_payable", "repair_payable", "not_addressed"]
RANK = {rule: i for i, rule in enumerate(ORDER)}
# the words of each line rule (its `% because:` line in logic/claims.lp), filled in placeholder order
BECAUSE = {
    "mms_not_medically_necessary": "lesion {L} meets none of the nine indications",
    "mms_diagnosis_not_covered": "diagnosis {D} is not on the covered list",
    "mms_wrong_family": "{K} does not fit site {S}: site {S} takes the {G} family",
    "mms_deep_structures_wrong_family": "{K} does not fit lesion {L}: surgery involving deep structures takes the {G} family",
    "mms_addon_without_primary": "add-on code {K} has no payable line with its primary code on lesion {L}",
    "mms_payable": "lesion {L} is medically necessary, its diagnosis is covered and the coding edits pass",
    "repair_payable": "lesion {L} has MMS (line {M})",
    "biopsy_units_not_separate_lesions": "line {N} bills {U} units but names only {K} lesions",
    "biopsy_lesion_already_biopsied": "lesion {L} was already biopsied on line {M}",
    "biopsy_payable": "a pre-surgical biopsy of lesions not biopsied on an earlier line, no more units than lesions",
    "biopsy_bundled": "lesion {L} has MMS and the biopsy is not marked pre-surgical: combined into line {M}",
    "frozen_section_bundled": "lesion {L} has MMS: the frozen section is combined into its first-stage line {M}",
    "surgical_pathology_bundled": "lesion {L} has MMS: the pathology service is combined into its first-stage line {M}",
    "not_addressed": "no rule of this policy speaks to line {N} ({K})",
}
NAMES = {rule: tuple(dict.fromkeys(re.findall(r"\{(\w+)\}", words))) for rule, words in BECAUSE.items()}


def words(why: list[tuple[str, tuple]]) -> list[str]:
    """A line's reasons: its rules' words in source order, then by their values (numbers as numbers);
    reasons that differ only in their last value are one sentence listing them ("line 1, 2").
    A reason's values are its placeholders' in their order, each once."""
    if len(why) > 1:
        why = sorted(why, key=lambda r: (RANK[r[0]], tuple((0, int(t), "") if t.isdigit() else (1, 0, t)
                                                              for t in map(str, r[1]))))
    merged: dict[tuple, list[str]] = {}
    for rule, values in why:
        last = merged.setdefault((rule, values[:-1]), [])
        if values and str(values[-1]) not in last:
            last.append(str(values[-1]))
    out = []
    for (rule, fixed), last in merged.items():
        text = BECAUSE[rule].format(**dict(zip(NAMES[rule], (*fixed, ", ".join(last)))))
        if text not in out:
            out.append(text)
    return out


def rows(path: Path) -> list[dict]:
    text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.lstrip().startswith("#"))
    return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))]


class Policy:
    def __init__(self, root: Path):
        data = root / "data"
        self.covered = {r["code"].upper() for r in rows(data / "covered_diagnoses.csv")}
        self.ranges = [(r["set"], int(r["first"]), int(r["last"])) for r in rows(data / "code_sets.csv")]
        self.first_stage, self.addon, self.family, self.primary = set(), set(), {}, {}
        for r in rows(data / "mms_codes.csv"):
            (self.first_stage if r["stage"] == "first" else self.addon).add(r["code"])
            if r["family"]:
                self.family[r["code"]] = r["family"]
            self.primary[r["code"]] = set(r["primary"].split())
        families = set(self.family.values())
        self.site_takes, self.high_risk, self.preservation = {}, set(), set()
        for r in rows(data / "sites.csv"):
            self.site_takes[r["site"]] = families if r["family"] == "either" else {r["family"]}
            if r["high_risk"] == "yes":
                self.high_risk.add(r["site"])
            if r["tissue_preservation"] == "yes":
                self.preservation.add(r["site"])
        self.histology = {r["term"]: r["characteristic"] for r in rows(data / "histology.csv")}
        self.large_um = next(int(Decimal(r["value"]) * (10000 if r["unit"] == "cm" else 1000))
                             for r in rows(data / "thresholds.csv") if r["name"] == "large_lesion_min")
        spec = importlib.util.find_spec("simple_icd_10_cm")
        listing = sorted((Path(next(iter(spec.submodule_search_locations))) / "data").glob("code-list-*.txt"))[-1]
        codes = listing.read_text(encoding="utf-8").split()
        self.icd = set(codes)
        self.icd_parents = {c for i, c in enumerate(codes[:-1]) if codes[i + 1].startswith(c) and codes[i + 1] != c}
        # the decision record: the version in force on the date, the ICD-10-CM release (and a warning
        # when none is in force that day); the digest and engine version as the caller gives them
        import tomllib

        meta = tomllib.loads((root / "policy.toml").read_text(encoding="utf-8"))
        self.policy_id = meta["id"]
        self.versions = [(str(v["effective_from"]), str(v.get("effective_to", "9999-12-31")), v["name"])
                         for v in meta["versions"]]
        self.releases = []
        for file in sorted((data / "icd10cm").glob("*.txt")):
            head = dict(re.findall(r"^#\s*(release|effective_from|effective_to)\s*:\s*(.*?)\s*$",
                                   file.read_text(encoding="utf-8"), re.M))
            self.releases.append((head["effective_from"], head["effective_to"], head["release"]))
        self.releases.sort()
        self.digest = self.engine = None
        self._records: dict = {}

    def record(self, day: str) -> tuple[list, dict]:
        found = self._records.get(day)
        if found is None:
            version = next((name for start, end, name in self.versions if start <= day <= end), None)
            warnings = []
            inside = [r for r in self.releases if r[0] <= day <= r[1]]
            if inside:
                release = inside[-1]
            else:
                before = [r for r in self.releases if r[0] <= day]
                release = before[-1] if before else self.releases[0]
                year = int(day[:4]) + (1 if int(day[5:7]) >= 10 else 0)
                warnings.append({"path": "date_of_service", "message": (
                    f"the diagnoses were checked against ICD-10-CM {release[2]} ({release[0]} to {release[1]}): this "
                    f"installation has no release in force on {day}, which needs FY{year}'s (from {year - 1}-10-01)")})
            found = self._records[day] = warnings, {
                "policy_id": self.policy_id, "policy_version": version, "policy_digest": self.digest,
                "icd10cm_release": release[2], "engine_version": self.engine}
        return found

    def sets_of(self, code: str) -> set[str]:
        if not code.isdigit():
            return set()
        n = int(code)
        return {s for s, lo, hi in self.ranges if lo <= n <= hi}


class Invalid(Exception):
    pass


def key(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def icd(text: str) -> str:
    t = text.strip().upper()
    bare = t[:3] + t[4:] if t[3:4] == "." else t
    return t if "." in bare or len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"


def need(ok: bool) -> None:
    if not ok:
        raise Invalid


def answer(doc, p: Policy) -> dict:
    need(isinstance(doc, dict) and isinstance(doc.get("id"), str) and doc["id"].strip())
    need(isinstance(doc.get("date_of_service"), str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc["date_of_service"]))
    need(set(doc) <= {"id", "date_of_service", "patient", "lesions", "lines"})
    patient = doc.get("patient") or {}
    need(isinstance(patient, dict) and set(patient) <= {"immunosuppressed"})
    immuno = patient.get("immunosuppressed")
    lesions = {}
    for obj in doc.get("lesions", []):
        need(isinstance(obj, dict) and set(obj) <= {"id", "diagnosis", "site", "size_cm", "size_mm", "borders", "histology", *FLAGS})
        lid, dx, site = obj.get("id"), icd(obj.get("diagnosis", "")), key(obj.get("site", ""))
        need(isinstance(lid, str) and lid not in lesions and site in p.site_takes)
        need(dx.replace(".", "") in p.icd and dx.replace(".", "") not in p.icd_parents)
        size = None
        if "size_cm" in obj:
            size = int((Decimal(str(obj["size_cm"])) * 10000).to_integral_value(ROUND_FLOOR))
        elif "size_mm" in obj:
            size = int((Decimal(str(obj["size_mm"])) * 1000).to_integral_value(ROUND_FLOOR))
        need(size is None or size > 0)
        terms = [key(t) for t in obj.get("histology", [])]
        need(all(t in p.histology for t in terms))
        lesions[lid] = {"id": lid, "dx": dx, "site": site, "size": size, "borders": obj.get("borders"),
                        "terms": terms, **{f: obj.get(f) for f in FLAGS}}
    lines = []
    for i, obj in enumerate(doc.get("lines", []), start=1):
        need(isinstance(obj, dict) and set(obj) <= {"line", "code", "units", "lesion", "lesions", "modifiers", "pre_surgical"})
        code = obj.get("code", "").strip().upper()
        need(re.fullmatch(r"[0-9]{4}[0-9FTU]|[A-Z][0-9]{4}", code) is not None)
        named = obj["lesions"] if "lesions" in obj else [obj["lesion"]] if "lesion" in obj else []
        need(all(n in lesions for n in named))
        lines.append({"n": obj.get("line", i), "code": code, "units": obj.get("units", 1), "lesions": named,
                      "pre": obj.get("pre_surgical"), "sets": p.sets_of(code)})
    need(len({line["n"] for line in lines}) == len(lines))

    # the lesions: the nine indications, medical necessity, the covered list
    out_lesions = []
    necessary, covered = {}, {}
    for les in lesions.values():
        met: dict[str, list[str]] = {}
        if les["site"] in p.high_risk:
            met.setdefault("high_risk_area", []).append("high_risk_area")
        if les["recurrent"] is True:
            met.setdefault("recurrent_or_incomplete", []).append("recurrent")
        if les["incompletely_excised"] is True:
            met.setdefault("recurrent_or_incomplete", []).append("incompletely_excised")
        if les["previously_irradiated"] is True:
            met.setdefault("irradiated_skin", []).append("irradiated_skin")
        if any(p.histology[t] for t in les["terms"]):
            met.setdefault("aggressive_or_rapid_growth", []).append("aggressive_behavior")
        if les["rapid_growth"] is True:
            met.setdefault("aggressive_or_rapid_growth", []).append("rapid_growth")
        if les["borders"] == "ill_defined":
            met.setdefault("ill_defined_borders", []).append("ill_defined_borders")
        if immuno is True:
            met.setdefault("immunosuppressed", []).append("immunosuppressed")
        if les["high_risk_metastasis"] is True:
            met.setdefault("high_risk_metastasis", []).append("high_risk_metastasis")
        if les["site"] in p.preservation:
            met.setdefault("tissue_preservation", []).append("tissue_preservation")
        if les["size"] is not None and les["size"] >= p.large_um:
            met.setdefault("large_lesion", []).append("large_lesion")
        necessary[les["id"]] = bool(met)
        covered[les["id"]] = les["dx"] in p.covered
        names = sorted(met)
        out_lesions.append({"id": les["id"], "diagnosis": les["dx"], "site": les["site"], "medically_necessary": bool(met),
                            "diagnosis_covered": covered[les["id"]], "indications": names,
                            "indication_rules": {i: sorted(set(met[i]), key=RANK.get) for i in names}})

    # the lines
    mms = [line for line in lines if "mms" in line["sets"] and line["lesions"]]
    anchor = {}
    for lid in lesions:
        mine = [line for line in mms if line["lesions"][0] == lid]
        firsts = [line["n"] for line in mine if line["code"] in p.first_stage]
        if firsts or mine:
            anchor[lid] = min(firsts) if firsts else min(line["n"] for line in mine)
    # each line: (outcome, into, rule ids, reasons: (rule id, values) in the rules' `% because:` words)
    outcome: dict[int, tuple[str, int | None, list[str], list[tuple[str, tuple]]]] = {}

    def fits(line) -> bool:  # the code's family is one its lesion takes (deep structures: 17311's)
        les = lesions[line["lesions"][0]]
        takes = {p.family["17311"]} if les["deep_structures"] is True else p.site_takes[les["site"]]
        return line["code"] in p.family and p.family[line["code"]] in takes

    for line in mms:
        les = lesions[line["lesions"][0]]
        lid, code, why = les["id"], line["code"], []
        if not necessary[lid]:
            why.append(("mms_not_medically_necessary", (lid,)))
        if not covered[lid]:
            why.append(("mms_diagnosis_not_covered", (les["dx"],)))
        if code in p.family and not fits(line):
            if les["deep_structures"] is True:
                why.append(("mms_deep_structures_wrong_family", (code, lid, p.family["17311"])))
            else:
                why.extend(("mms_wrong_family", (code, les["site"], g)) for g in sorted(p.site_takes[les["site"]]))
        if code in p.addon and not any(o["code"] in p.primary[code] and fits(o) for o in mms if o["lesions"][0] == lid):
            why.append(("mms_addon_without_primary", (code, lid)))
        outcome[line["n"]] = ("denied", None, why) if why else ("payable", None, [("mms_payable", (lid,))])
    biopsies = []
    for line in lines:
        if line["n"] in outcome:
            continue
        first = line["lesions"][0] if line["lesions"] else None
        sets = line["sets"]
        if first in anchor and "frozen_section" in sets:
            outcome[line["n"]] = ("bundled", anchor[first], [("frozen_section_bundled", (first, anchor[first]))])
        elif first in anchor and "surgical_pathology" in sets:
            outcome[line["n"]] = ("bundled", anchor[first], [("surgical_pathology_bundled", (first, anchor[first]))])
        elif first in anchor and "biopsy" in sets and line["pre"] is not True:
            outcome[line["n"]] = ("bundled", anchor[first], [("biopsy_bundled", (first, anchor[first]))])
        elif "biopsy" in sets:
            biopsies.append(line)
        elif "repair" in sets and first in anchor:
            outcome[line["n"]] = ("payable", None, [("repair_payable", (first, m["n"]))
                                                    for m in mms if m["lesions"][0] == first])
    for line in biopsies:
        why = []
        named = set(line["lesions"])
        if line["units"] > len(named):
            why.append(("biopsy_units_not_separate_lesions", (line["n"], line["units"], len(named))))
        for lid in named:
            earlier = [o["n"] for o in biopsies if o["n"] < line["n"] and lid in o["lesions"]]
            if earlier:
                why.append(("biopsy_lesion_already_biopsied", (lid, min(earlier))))
        outcome[line["n"]] = ("denied", None, why) if why else ("payable", None, [("biopsy_payable", ())])
    out_lines = []
    for line in lines:
        kind, into, why = outcome.get(line["n"], ("not_addressed", None, [("not_addressed", (line["n"], line["code"]))]))
        entry = {"line": line["n"], "code": line["code"]}
        if len(line["lesions"]) == 1:
            entry["lesion"] = line["lesions"][0]
        elif line["lesions"]:
            entry["lesions"] = line["lesions"]
        entry["outcome"] = kind
        if into is not None:
            entry["into"] = into
        entry["rules"] = sorted({rule for rule, _ in why}, key=RANK.get)
        entry["reasons"] = words(why)
        out_lines.append(entry)
    if not mms:
        decision = "no_mms"
    elif any(outcome[line["n"]][0] == "denied" for line in mms):
        decision = "not_covered"
    else:
        decision = "covered"
    warnings, record = p.record(doc["date_of_service"])
    return {"case": doc["id"], "status": "ok", "decision": decision, "lesions": out_lesions, "lines": out_lines,
            "warnings": warnings, "decision_record": record}


def main() -> int:
    args = sys.argv[1:]
    root = ROOT
    if "--policy" in args:
        i = args.index("--policy")
        root = Path(args[i + 1])
        del args[i:i + 2]
    digest = engine = None
    for flag in ("--digest", "--engine-version"):
        if flag in args:
            i = args.index(flag)
            if flag == "--digest":
                digest = args[i + 1]
            else:
                engine = args[i + 1]
            del args[i:i + 2]
    source, target = args
    p = Policy(root)
    p.digest, p.engine = digest, engine
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with open(source, "rb") as f, open(target, "w", encoding="utf-8") as out:
        for number, raw in enumerate(f, start=1):
            try:
                doc = json.loads(raw, parse_float=Decimal)
                result = answer(doc, p)
            except (Invalid, ValueError, TypeError, KeyError, AttributeError, IndexError):
                doc_id = doc.get("id") if isinstance(locals().get("doc"), dict) else None
                result = {"case": doc_id, "status": "invalid", "input_line": number}
            doc = None
            out.write(dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
