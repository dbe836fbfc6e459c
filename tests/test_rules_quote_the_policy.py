"""Every rule quotes the policy: its `% policy:` line is a sentence (or part of one) of the payer's
text or of the readings and contract beside it (docs/contract/, a snapshot of ../shared/contract),
or the pack's own reading of its dates (policy.toml's `reading`)."""

from pathlib import Path

from mohs_asp.policy import load_policy

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "contract"


def words(text: str) -> str:
    """Markdown emphasis and line breaks are not part of a sentence."""
    return " ".join(text.replace("`", "").replace("*", "").split())


def test_every_rule_has_an_id_and_quotes_its_sentence_word_for_word():
    policy = load_policy()
    texts = [p.read_text(encoding="utf-8") for p in sorted(CONTRACT.glob("*")) if p.name != "SNAPSHOT.md"]
    sources = words(" ".join([*texts, policy.metadata["reading"]]))
    assert not policy.unannotated, [r.source for r in policy.unannotated]
    misquoted = [f"{r.source} {r.id}: {r.policy!r}" for r in policy.rules if words(r.policy) not in sources]
    assert not misquoted, "\n".join(misquoted)
    ids = [r.id for r in policy.rules]
    assert len(ids) == len(set(ids))
