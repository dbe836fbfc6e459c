"""Every rule quotes the policy: its `% policy:` line is a whole sentence of the payer's text, its
`% reading:` line a whole sentence of the contract's readings (docs/contract/, a snapshot of
../shared/contract) or the pack's own reading of its dates (policy.toml's `reading`), word for
word. `mohs-asp lint` checks this (mohs_asp/authoring/quotes.py); this test holds the shipped policy to
it, and `mohs-asp rules` to printing each quote once, labelled."""

import json
import subprocess
from pathlib import Path

import pytest

from mohs_asp.authoring import quotes
from mohs_asp.authoring.graph import RuleGraph
from mohs_asp.authoring.lint import check_quotes
from mohs_asp.policy.load import load_policy
from helpers import EXE

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "contract"


def test_every_rule_has_an_id_and_quotes_a_whole_sentence_word_for_word():
    policy = load_policy()
    assert not policy.unannotated, [r.source for r in policy.unannotated]
    assert quotes.contract_folder(policy.root) == CONTRACT
    assert policy.rules_by_id["in_force"].reading == policy.metadata["reading"]
    assert check_quotes(policy, RuleGraph(policy)) == []
    ids = [r.id for r in policy.rules]
    assert len(ids) == len(set(ids))


def test_the_snapshot_is_the_contract_as_it_stands():
    """docs/contract/ is a copy of ../shared/contract (when the shared folder is there to compare)."""
    shared = CONTRACT.parent.parent.parent / "shared" / "contract"
    if not shared.is_dir():
        pytest.skip("no ../shared/contract beside this checkout")
    for name in ("policy-source.txt", "policy.md", "README.md"):
        assert (CONTRACT / name).read_text() == (shared / name).read_text(), name


def test_headings_and_parts_of_sentences_are_not_sentences():
    source = quotes.load_sources(CONTRACT.parent.parent)["policy"][0]
    assert source.find("Diagnosis Codes") is None and quotes.key("Diagnosis Codes") in source.headings
    assert source.find("Procedure Codes") is None
    assert source.find("reported with MMS") is None
    assert source.part_of("reported with MMS") is not None
    # a list item alone, or after the sentence leading into its list; footnote asterisks left out
    assert source.find("Cancer with ill-defined borders")
    assert source.find("Aggressive behavior must include ANY ONE of the following histologic characteristics: Sclerotic")
    assert source.find("Cancer displaying aggressive behavior or rapid growth in any anatomic area")
    readings = quotes.load_sources(CONTRACT.parent.parent)["reading"]
    assert any(s.find("A line that names several lesions is bundled or not by its first lesion.") for s in readings)
    assert not any(s.find("A line that names several lesions") for s in readings)


@pytest.mark.skipif(EXE is None, reason="mohs-asp is not installed")
def test_rules_prints_each_quote_labelled_with_no_heading_fragment_or_doubled_quote():
    text = subprocess.run([EXE, "rules"], capture_output=True, text=True, check=True).stdout
    assert '""' not in text
    assert "Diagnosis Codes" not in text and "Procedure Codes" not in text and "*" not in text
    quoted = [line.strip() for line in text.splitlines() if line.startswith("  policy: ") or line.startswith("  reading: ")]
    assert quoted and all(q.split(": ", 1)[1].startswith('"') for q in quoted)
    assert '  reading: "\u201cThat lesion\'s first-stage MMS line\u201d is its 17311 or 17313 line' in text
    listed = json.loads(subprocess.run([EXE, "rules", "--format", "json"], capture_output=True, text=True, check=True).stdout)
    by_id = {r["id"]: r for r in listed}
    assert by_id["diagnosis_covered"]["policy"] is None and by_id["diagnosis_covered"]["reading"].startswith("Diagnosis covered")
    assert by_id["repair_payable"]["policy"] == "Separate payment can be made for a repair, flap, or skin graft following MMS."
    assert "payable or denied" in by_id["repair_payable"]["reading"]
