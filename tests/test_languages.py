"""A responder's language: validated in the policy, followed by the ladder's SMS and calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies.loader import BUILTIN_DIR, PolicyError, parse_policy
from tests.harness import harness

BERLIN = ZoneInfo("Europe/Berlin")
LINE, ANA, BOGDAN = "+40724011885", "+40721555101", "+40722555102"
SEED = (BUILTIN_DIR / "prokuria.yaml").read_text(encoding="utf-8")


def with_languages(ana: str, bogdan: str) -> str:
    text = SEED
    for who, language in (("ana", ana), ("bogdan", bogdan)):
        line = f"    email: {who}.example@example.com\n"
        assert line in text
        text = text.replace(line, f"{line}    language: {language}\n")
    return text


def test_an_unknown_language_is_one_line_naming_the_field() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(with_languages("ro", "fr"), "prokuria.yaml")
    assert str(caught.value) == (
        "prokuria.yaml: responders.bogdan.language: unknown language 'fr' (use en, et, ro)"
    )
    policy = parse_policy(with_languages("ro", "et"), "prokuria.yaml")
    assert (policy.responders["ana"].language, policy.responders["carmen"].language) == ("ro", None)


async def test_the_ladder_texts_and_calls_each_responder_in_their_language(
    tmp_path: Path,
) -> None:
    (tmp_path / "prokuria.yaml").write_text(with_languages("ro", "et"), encoding="utf-8")
    opened = datetime(2026, 12, 8, 3, 0, tzinfo=BERLIN)
    async with harness(tmp_path) as h:
        await h.advance_to(opened)
        await h.open("prokuria", "T-lang", severity="critical", opened_at=opened)
        # Step 1 texts the line and ana, step 2 calls them, step 3 texts and calls bogdan.
        await h.advance_to(opened + timedelta(minutes=70, seconds=5))
        texts = {s.to: s.text for s in h.notifier.to("sms")}
        assert texts[LINE].startswith("slawatch: ticket prokuria/T-lang (critical) response")
        assert texts[ANA].startswith("slawatch: tichetul prokuria/T-lang (critical): termenul")
        assert texts[BOGDAN].startswith("slawatch: pilet prokuria/T-lang (critical): reageeri")
        calls = {s.to: s.language for s in h.notifier.to("voice")}
        assert calls == {LINE: None, ANA: "ro", BOGDAN: "et"}
