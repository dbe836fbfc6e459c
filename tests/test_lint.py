"""`mohs-asp lint`: the shipped policy lints clean (with its ICD-10-CM drift as warnings), and
each kind of broken policy is named with its file and line."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.authoring.lint import lint_policy
from mohs_asp.policy.load import load_policy
from helpers import copy_policy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "examples" / "nose-bcc-covered.case.json"
from helpers import EXE
needs_exe = pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed in this environment")


def run(*args, cwd=None):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def errors(report):
    return [str(f) for f in report.errors]


@needs_exe
def test_the_shipped_policy_lints_clean_and_reports_the_icd10cm_drift():
    result = run("lint")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "0 errors" in out.splitlines()[-1]
    # listed codes no longer billable, with the codes below them named
    assert "data/covered_diagnoses.csv:135: warning: C4A.11 is no longer billable" in out
    assert "data/covered_diagnoses.csv:136: warning: C4A.12 is no longer billable" in out
    for child in ("C4A.111", "C4A.112", "C4A.121", "C4A.122"):
        assert f"    {child}   Merkel cell carcinoma" in out
    # billable codes of listed families that the list lacks, each with its description
    assert "C44.131 is not on the list: Sebaceous cell carcinoma of skin of unspecified eyelid" in out
    assert "C44.1321 is not on the list: Sebaceous cell carcinoma of skin of right upper eyelid" in out
    assert "C4A.111 is not on the list: Merkel cell carcinoma of right upper eyelid, including canthus (it replaces listed C4A.11)" in out
    # three-character categories are not families: C57 and D48 are picked from, not omitted
    assert "C57.00" not in out and "D48.0 " not in out


def test_lint_json_has_every_finding_with_severity_and_place():
    report = json.loads(json.dumps(lint_policy().as_dict()))  # what `lint --format json` prints
    assert report["ok"] and report["errors"] == 0
    missing = {f["message"].split()[0] for f in report["findings"] if "is not on the list" in f["message"]}
    assert missing == {"C44.131", "C44.1321", "C44.1322", "C44.1391", "C44.1392", "C4A.111", "C4A.112", "C4A.121", "C4A.122"}
    assert all(f["severity"] in ("error", "warning") and f["message"] for f in report["findings"])


@needs_exe
def test_a_syntax_error_is_named_alike_by_lint_and_check(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "logic" / "indications.lp", "previously_irradiated(C,L,true).", "previously_irradiated(C,L,true)")
    lint = run("lint", "--policy", folder)
    check = run("check", EXAMPLE, "--policy", folder)
    assert lint.returncode == 1 and check.returncode == 3
    line = next(l for l in lint.stdout.splitlines() if "syntax error" in l)
    assert line.startswith("logic/indications.lp:") and ": error: syntax error, unexpected name" in line
    assert line in check.stderr


@needs_exe
def test_an_unsafe_variable_is_named_alike_by_lint_and_check(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    append(folder / "logic" / "claims.lp", '\n% rule: bad\n% policy: "x"\nbad(C,X) :- case(C), not lesion(C,X).\n')
    lint = lint_policy(folder)
    check = run("check", EXAMPLE, "--policy", folder)
    assert not lint.ok and check.returncode == 3
    line = next(l for l in lint.render().splitlines() if "unsafe" in l)
    lines = (folder / "logic" / "claims.lp").read_text().count("\n")
    assert line.startswith(f"logic/claims.lp:{lines}:7: error: variable X is unsafe")
    assert line in check.stderr
    assert "Traceback" not in check.stderr


def test_a_misspelt_predicate_is_an_error_at_its_place(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "logic" / "indications.lp", 'histology(C,L,T), histology_term(T,K,When)',
            'histology(C,L,T), histology_trm(T,K,When)')
    report = lint_policy(folder)
    assert any(e.startswith("logic/indications.lp:") and 'histology_trm(T,K,When) is in no rule head' in e
               for e in errors(report))


def test_a_vocabulary_term_no_data_defines_is_an_error(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    # the one rule over the data, written for one characteristic, misspelt
    replace(folder / "logic" / "indications.lp", 'aggressive_histology(C,L,T,K) :- histology(C,L,T), histology_term(T,K,When)',
            'aggressive_histology(C,L,T,"fibrosing") :- histology(C,L,T), histology_term(T,"fibrosng",When)')
    replace(folder / "logic" / "claims.lp", "line_in_set(C,N,frozen_section)", "line_in_set(C,N,frozen_sectoin)")
    report = lint_policy(folder)
    found = errors(report)
    assert any('rule aggressive_histology reads "fibrosng" as argument 2 of histology_term/3' in e for e in found)
    assert any("rule frozen_section_bundled reads frozen_sectoin as argument 3 of line_in_set/3" in e for e in found)
    # and the characteristics no rule reads any more are pointed out
    assert any('no rule reads "fibrosing", "high mitotic activity", ' in str(w) for w in report.warnings)


def test_a_family_string_must_exist_in_the_data(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "logic" / "claims.lp", 'code_family("17311",F,When)', 'code_family("17131",F,When)')
    assert any('rule lesion_takes_deep_structures_family reads "17131" as argument 1 of code_family/3' in e
               for e in errors(lint_policy(folder)))


def test_a_choice_rule_and_a_loop_through_not_are_refused_naming_the_rules(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    append(folder / "logic" / "claims.lp", (
        '\n% rule: maybe_extra\n% policy: "x"\n{ extra(C) } :- case(C).\n'
        '% rule: flip\n% policy: "x"\nflip(C) :- case(C), not flop(C).\n'
        '% rule: flop\n% policy: "x"\nflop(C) :- case(C), not flip(C).\n'))
    report = lint_policy(folder)
    assert not report.ok
    assert any("rule maybe_extra is a choice rule" in e for e in errors(report))
    loop = next(f for f in report.errors if "loop through `not`" in f.message)
    assert "flip/1, flop/1" in loop.message
    assert [d.split()[0] for d in loop.details] == ["flip", "flop"]


def test_an_even_loop_across_files_through_a_derived_predicate_is_found(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    # medically_necessary depends on indication; make an indication depend on its absence
    append(folder / "logic" / "indications.lp",
           '\n% rule: circular\n% policy: "x"\nindication(C,L,circular) :- lesion(C,L), not medically_necessary(C,L).\n')
    loop = next(f for f in lint_policy(folder).errors if "loop through `not`" in f.message)
    assert "indication/3" in loop.message and "medically_necessary/2" in loop.message
    assert {d.split()[0] for d in loop.details} >= {"circular", "medically_necessary"}


def test_every_rule_needs_an_id_and_a_sentence_and_ids_are_unique(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    append(folder / "logic" / "claims.lp", (
        "\nnameless(C) :- case(C).\n"
        "% rule: large_lesion\nsentence_less(C) :- case(C).\n"))
    found = errors(lint_policy(folder))
    lines = (folder / "logic" / "claims.lp").read_text().count("\n")
    assert f"logic/claims.lp:{lines - 2}: error: this rule has no `% rule: ID` line above it" in "\n".join(found)
    assert any(e.startswith(f"logic/claims.lp:{lines}: error: rule large_lesion quotes no policy sentence") for e in found)
    assert any(e.startswith(f"logic/claims.lp:{lines}: error: rule id large_lesion is used twice: also at logic/indications.lp:")
               for e in found)


def test_code_sets_must_be_disjoint_and_diagnoses_well_formed(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    append(folder / "data" / "code_sets.csv", "repair,88300,88305,oops\n")
    replace(folder / "data" / "covered_diagnoses.csv", "\nC44.311\n", "\nC44311\n")
    replace(folder / "data" / "covered_diagnoses.csv", "\nC44.319\n", "\nC44.3199\n")
    found = "\n".join(errors(lint_policy(folder)))
    assert "data/code_sets.csv:20: error: repair 88300-88305 overlaps surgical_pathology 88300-88300 (line 7)" in found
    assert "C44311 is not written as cases are compared" in found and "write C44.311" in found
    assert "C44.3199 is not a code of ICD-10-CM April 2026" in found


def test_a_renamed_threshold_is_pointed_out_twice(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "data" / "thresholds.csv", "large_lesion_min,", "large_lesion_minimum,")
    report = lint_policy(folder)
    warnings = "\n".join(map(str, report.warnings))
    assert "the data gives large_lesion_minimum_um/2 but no rule reads it" in warnings
    assert "rule large_lesion cannot fire with this data: no data file and no rule gives large_lesion_min_um/2" in warnings


def test_broken_data_is_reported_even_when_the_logic_does_not_parse(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "logic" / "indications.lp", "previously_irradiated(C,L,true).", "previously_irradiated(C,L,true)")
    append(folder / "data" / "sites.csv", "elbow,17312,no,no,\n")
    found = errors(lint_policy(folder))
    assert len(found) == 2
    lines = (folder / "data" / "sites.csv").read_text().count("\n")
    assert found[1] == f"data/sites.csv:{lines}: error: family must be one of data/mms_codes.csv (17311, 17313) or either"


def test_a_quote_must_be_a_whole_sentence_of_the_text_it_names(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "logic" / "diagnosis.lp", '% reading: "Diagnosis covered when', '% policy: "Diagnosis Codes"\n% x: "')
    replace(folder / "logic" / "indications.lp", '% > • Cancer with ill-defined borders; or', '% > with ill-defined borders')
    replace(folder / "logic" / "indications.lp", '% > • Tumors with high-risk metastasis; or', '% > • Tumours with high-risk metastasis; or')
    replace(folder / "logic" / "claims.lp", '% reading: "An add-on whose primary is missing or denied is denied',
            '% policy: "An add-on whose primary is missing or denied is denied')  # a reading quoted as the payer's
    found = "\n".join(errors(lint_policy(folder)))
    assert 'rule diagnosis_covered: `% policy:` "Diagnosis Codes": it is a heading (or a list of codes) of policy-source.txt' in found
    # a misquoted paragraph is refused where it is quoted, and so is the sentence its rules take from it
    assert ('`% >` "with ill-defined borders": it is part of a paragraph: quote the whole paragraph, '
            '"• Cancer with ill-defined borders; or"') in found
    assert ('rule ill_defined_borders: `% policy:` "with ill-defined borders": it is part of a sentence: quote the whole '
            'sentence, "Cancer with ill-defined borders"') in found
    assert '`% >` "• Tumours with high-risk metastasis; or": it is not a paragraph of policy-source.txt, word for word' in found
    assert 'rule high_risk_metastasis: `% policy:` "Tumours with high-risk metastasis": it is not a sentence of policy-source.txt' in found
    assert "rule mms_addon_without_primary: `% policy:`" in found


def literate(tmp_path, text: str) -> list[str]:
    """lint's findings (errors and warnings, as printed) for the shipped policy with `text`
    appended to logic/claims.lp."""
    folder = copy_policy(tmp_path / "policy")
    append(folder / "logic" / "claims.lp", text)
    report = lint_policy(folder)
    return [str(f) for f in report.errors + report.warnings]


def test_each_paragraph_is_quoted_once_and_a_rule_cites_the_paragraph_it_sits_under(tmp_path):
    lines = (ROOT / "logic" / "claims.lp").read_text().count("\n")
    found = literate(tmp_path, (
        "\n% > Separate payment can be made for a repair, flap, or skin graft following MMS.\n"
        "% rule: odd_repair\n"
        '% policy: "Tumors with high-risk metastasis"\n'
        "odd_repair(C) :- case(C).\n"))
    assert any(f.startswith(f"logic/claims.lp:{lines + 2}: error: this paragraph is quoted twice (also at logic/claims.lp:")
               for f in found), found
    assert any(f.startswith(f"logic/claims.lp:{lines + 2}: warning: this paragraph comes before the one quoted at") for f in found)
    assert (f'logic/claims.lp:{lines + 5}: error: rule odd_repair: `% policy:` "Tumors with high-risk metastasis" is not a '
            f"sentence of the paragraph it sits under (line {lines + 2}): move the rule under its paragraph") in found


def test_a_rule_under_no_paragraph_needs_a_reading_unless_it_is_a_helper(tmp_path):
    lines = (ROOT / "logic" / "claims.lp").read_text().count("\n")
    found = literate(tmp_path, (
        "\n% # A section of my own\n"
        "% rule: unquoted\n"
        "unquoted(C) :- case(C).\n"
        "% rule: marked\n"
        "% helper: what the rules above need\n"
        "marked(C) :- case(C), unquoted(C).\n"
        "% rule: underscored\n"
        "_underscored(C) :- marked(C).\n"
        "% rule: cited\n"
        '% policy: "Tumors with high-risk metastasis"\n'
        "cited(C) :- _underscored(C).\n"))
    assert any(f.startswith(f"logic/claims.lp:{lines + 4}: error: rule unquoted quotes no policy sentence") for f in found)
    assert not any("rule marked" in f or "rule underscored" in f for f in found), found
    assert (f"logic/claims.lp:{lines + 12}: error: rule cited cites the payer's sentence but sits under no quoted "
            f"paragraph: put it under the paragraph its sentence is in (or add the reading it follows)") in found


def test_a_paragraph_no_rule_encodes_says_why_and_every_paragraph_is_quoted(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    text = (folder / "logic" / "indications.lp").read_text()
    note = "% Not encoded: it says what MMS is and sets no condition a claim can meet or fail.\n"
    assert note in text
    (folder / "logic" / "indications.lp").write_text(text.replace(note, ""))
    warnings = [str(w) for w in lint_policy(folder).warnings]
    assert any(w.startswith("logic/indications.lp:") and "no rule sits under this paragraph: add `% Not encoded: WHY`" in w
               for w in warnings), warnings
    folder = copy_policy(tmp_path / "second")  # (a policy folder is read once per process)
    replace(folder / "logic" / "claims.lp", "% > Separate payment can be made for a repair, flap, or skin graft following MMS.\n", "")
    warnings = [str(w) for w in lint_policy(folder).warnings]
    assert any(w.startswith('policy-source.txt: warning: the paragraph "Separate payment can be made for a repair, flap') and
               "is quoted in no logic file" in w for w in warnings), warnings


def test_a_threshold_changed_under_its_quote_is_a_warning_naming_both(tmp_path):
    folder = copy_policy(tmp_path / "policy")
    replace(folder / "data" / "thresholds.csv", "large_lesion_min,2.0,cm,", "large_lesion_min,1.5,cm,")
    report = lint_policy(folder)
    assert report.ok
    drift = [str(w) for w in report.warnings if "disagree" in str(w)]
    line = load_policy().rules_by_id["large_lesion"].source
    assert drift == [f'{line}: warning: rule large_lesion quotes "2.0 cm" but reads large_lesion_min = 1.5 cm '
                     f"(data/thresholds.csv:7): the quote and the data disagree"]
    # the same value written in mm agrees with the quote
    same = copy_policy(tmp_path / "same")
    replace(same / "data" / "thresholds.csv", "large_lesion_min,2.0,cm,", "large_lesion_min,20,mm,")
    assert not [w for w in lint_policy(same).warnings if "disagree" in str(w)]
