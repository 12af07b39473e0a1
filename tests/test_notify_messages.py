"""The pure page builders (SMS text, call TwiML). The ledger has tests/test_ledger.py."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

import policies.names
import slawatch.messages as messages
import slawatch.twiml as twiml
from policies.languages import LANGUAGES
from slawatch.messages import build_sms_body, parse_sms_ack, webhook_url
from slawatch.twiml import build_call_twiml

GATHER = "https://hooks.example.test/twilio/voice/gather?breach=b&key=k&wf=w"


def test_sms_body_has_reference_class_and_ack_hint_only() -> None:
    body = build_sms_body("prokuria/T-1042", "critical", "response")
    assert body == (
        "slawatch: ticket prokuria/T-1042 (critical) response target BREACHED."
        " Reply ACK prokuria/T-1042 to acknowledge."
    )
    assert parse_sms_ack(body.split("Reply ")[1].removesuffix(" to acknowledge.")) == (
        "prokuria/T-1042"
    )


def test_sms_warning_names_the_share_of_the_target() -> None:
    body = build_sms_body("cargotask/77", "standard", "response", percent=80)
    assert "80% of response target used" in body and "BREACHED" not in body
    with pytest.raises(ValueError, match="percent"):
        build_sms_body("cargotask/77", "standard", "response", percent=100)


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("ticket_ref", ("Jane Doe's invoice", "critical", "response")),
        ("severity", ("prokuria/T-1", "<Play>x</Play>", "response")),
        ("kind", ("prokuria/T-1", "critical", "call me at +40 721")),
    ],
)
def test_builders_refuse_free_text_naming_the_field(field: str, args: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        build_sms_body(*args)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("ACK prokuria/T-1", "prokuria/T-1"),
        ("  ack   x.1 ", "x.1"),
        ("ok thanks", None),
        ("ACK", None),
    ],
)
def test_parse_sms_ack(text: str, ref: str | None) -> None:
    assert parse_sms_ack(text) == ref


def test_call_twiml_gathers_one_digit_and_reads_only_reference_and_class() -> None:
    twiml = build_call_twiml("prokuria/T-1042", "major", GATHER)
    assert twiml == build_call_twiml("prokuria/T-1042", "major", GATHER)  # deterministic
    root = ET.fromstring(twiml)
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("action"), gather.get("numDigits")) == (GATHER, "1")
    assert (gather.get("method"), gather.get("timeout")) == ("POST", "8")
    assert [say.text for say in root.findall("Say")] == ["No acknowledgement received. Goodbye."]
    said = [say.text for say in gather.iter("Say")]
    assert len(said) == 2 and said[0] == said[1]
    assert said[0] == (
        "This is slawatch. Ticket prokuria, T, 1042, class major, "
        "has breached its service level. Press 1 to acknowledge."
    )


def test_call_twiml_refuses_a_relative_gather_url() -> None:
    with pytest.raises(ValueError, match=r"^gather_url:"):
        build_call_twiml("prokuria/T-1", "major", "/twilio/voice/gather")


def test_webhook_url_sorts_and_escapes_parameters() -> None:
    url = webhook_url("https://h.test/", "/twilio/status", wf="ticket-a-1", key="a/b c")
    assert url == "https://h.test/twilio/status?key=a%2Fb+c&wf=ticket-a-1"


def test_messages_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(messages.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    # The name rules are the one import beyond the standard library, and they import only it.
    assert "policies.names" in imported
    names = ast.parse(Path(policies.names.__file__).read_text())
    names_imports = {
        ((n.module or "") if isinstance(n, ast.ImportFrom) else alias.name).split(".")[0]
        for n in ast.walk(names)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for alias in n.names
    }
    assert names_imports <= sys.stdlib_module_names | {"__future__"}
    roots = {name.split(".")[0] for name in imported - {"policies.names"}} - {"__future__"}
    assert roots and roots <= sys.stdlib_module_names


def test_languages_of_the_texts_are_the_policys() -> None:
    assert messages.LANGUAGES == LANGUAGES == twiml.LANGUAGES


def test_an_estonian_sms_is_estonian_and_keeps_the_code_and_the_ack_reply() -> None:
    body = build_sms_body("cargotask/77", "critical", "response", code="4821", language="et")
    assert body == (
        "slawatch: pilet cargotask/77 (critical): reageerimisaja tähtaeg on ÜLETATUD."
        " Vasta 4821 kinnitamiseks."
    )
    assert build_sms_body("cargotask/77", "standard", "resolution", percent=80, language="et") == (
        "slawatch: pilet cargotask/77 (standard): lahendusaja tähtajast on kasutatud 80%."
        " Vasta ACK cargotask/77 kinnitamiseks."
    )


def test_a_romanian_sms_is_romanian() -> None:
    body = build_sms_body("prokuria/T-1", "critical", "resolution", code="4821", language="ro")
    assert body == (
        "slawatch: tichetul prokuria/T-1 (critical): termenul de rezolvare a fost DEPĂȘIT."
        " Răspundeți cu 4821 pentru confirmare."
    )


@pytest.mark.parametrize("language", [None, *LANGUAGES])
def test_every_language_keeps_the_acknowledgement_instructions(language: str | None) -> None:
    with_code = build_sms_body(
        "prokuria/T-1", "critical", "response", code="4821", language=language
    )
    assert re.search(r"\b4821\b", with_code)  # the code the SMS webhook matches, a word
    bare = build_sms_body("prokuria/T-1", "critical", "response", language=language)
    [reply] = [part for part in bare.split(" ACK ")[1:]]
    assert parse_sms_ack("ACK " + reply.split()[0]) == "prokuria/T-1"
    root = ET.fromstring(build_call_twiml("prokuria/T-7", "major", GATHER, language))
    gather = root.find("Gather")
    assert gather is not None and gather.get("numDigits") == "1"
    said = [say.text or "" for say in gather.iter("Say")]
    assert len(said) == 2 and all(re.search(r"\b1\b", text) for text in said)  # the key


def test_unset_language_is_english_and_unknown_is_refused_naming_the_field() -> None:
    assert build_sms_body("prokuria/T-1", "critical", "response", language=None) == (
        build_sms_body("prokuria/T-1", "critical", "response", language="en")
    )
    root = ET.fromstring(build_call_twiml("prokuria/T-1", "major", GATHER))
    assert all(say.get("language") is None for say in root.iter("Say"))
    assert "This is slawatch" in (root.find("Gather/Say").text or "")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"^language: unknown language 'fr' \(use en, et, ro\)$"):
        build_sms_body("prokuria/T-1", "critical", "response", language="fr")
    with pytest.raises(ValueError, match=r"^language: unknown language 'fr'"):
        build_call_twiml("prokuria/T-1", "major", GATHER, "fr")


@pytest.mark.parametrize(
    ("language", "locale", "voice", "words"),
    [
        ("ro", "ro-RO", "Polly.Carmen", "Apăsați 1 pentru confirmare."),
        ("et", "et-EE", "Google.et-EE-Standard-A", "Kinnitamiseks vajutage 1."),
    ],
)
def test_a_call_speaks_the_responders_language_with_a_matching_voice(
    language: str, locale: str, voice: str, words: str
) -> None:
    root = ET.fromstring(build_call_twiml("prokuria/T-1", "major", GATHER, language))
    says = list(root.iter("Say"))
    assert len(says) == 3
    assert {(say.get("language"), say.get("voice")) for say in says} == {(locale, voice)}
    assert (says[0].text or "").endswith(words)
