"""The local stand-in mode, and the development secrets that are refused outside it.

The rule (README.md, deploy/README.md): slawatch runs in the *local stand-in mode* when
SLAWATCH_NOTIFIER_MODE is "stand-in", SLAWATCH_API_HOST is a loopback address and the host of
SLAWATCH_PUBLIC_BASE_URL is a loopback address. Only there may a secret be empty or keep its
built-in development value: everywhere else anyone who has read this source could use it (call
the API with `dev-token`, forge Twilio webhook signatures with `dev-auth-token`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from enum import StrEnum
from urllib.parse import urlsplit

from slawatch.secret_specs import parse_secrets, parse_tokens
from slawatch.settings import (
    DEV_ACCOUNT_SID,
    DEV_API_TOKEN,
    DEV_SENDGRID_API_KEY,
    DEV_TWILIO_AUTH_TOKEN,
    Settings,
)


class Role(StrEnum):
    """What a process does; each is checked only for the secrets it holds.

    The deploy manifests give each pod only its own secrets (the API has no SendGrid key, the
    worker no API tokens), so asking a process for a secret it never uses would force spreading
    that secret to it.
    """

    WORKER = "worker"  # sends SMS, calls and email: Twilio account + token, SendGrid key
    API = "api"  # intake tokens; Twilio token to check webhook signatures


ALL_ROLES = frozenset(Role)


def is_loopback(host: str | None) -> bool:
    """True for localhost and loopback IP addresses; never for 0.0.0.0, "" or a name."""
    if not host:
        return False
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def why_not_local(settings: Settings) -> list[str]:
    """The reasons these settings are outside the local stand-in mode (empty: inside it)."""
    reasons = []
    if settings.notifier_mode != "stand-in":
        reasons.append(f"SLAWATCH_NOTIFIER_MODE is {settings.notifier_mode}")
    if not is_loopback(settings.api_host):
        reasons.append(f"SLAWATCH_API_HOST {settings.api_host!r} is not loopback")
    if not is_loopback(urlsplit(settings.public_base_url).hostname):
        reasons.append("SLAWATCH_PUBLIC_BASE_URL is not on loopback")
    return reasons


def local_stand_in_mode(settings: Settings) -> bool:
    return not why_not_local(settings)


def api_docs_enabled(settings: Settings) -> bool:
    """SLAWATCH_API_DOCS when set; otherwise the docs are served only in the local mode."""
    return settings.api_docs if settings.api_docs is not None else local_stand_in_mode(settings)


def _secret(name: str, value: str, dev_value: str) -> list[str]:
    if not value.strip():
        return [f"{name} is empty; set the real one"]
    if value == dev_value:
        return [f"{name} is the built-in development value; set the real one"]
    return []


def _api_tokens(spec: str) -> list[str]:
    try:
        tokens = parse_tokens(spec)
    except ValueError as exc:  # names the entry by position, never its text
        return [str(exc)]
    if not tokens:
        return ["SLAWATCH_API_TOKENS is empty; set token=tenant1,tenant2 per intake system"]
    if DEV_API_TOKEN in tokens:
        return [
            f"SLAWATCH_API_TOKENS contains the built-in development token {DEV_API_TOKEN!r};"
            " replace it with a long random one"
        ]
    return []


# Zendesk's signing secrets are 40+ characters, Jira's generated ones 32+: anything shorter was
# typed by hand for a test and is guessable.
HELPDESK_SECRET_MIN = 24


def _helpdesk_secrets(settings: Settings) -> list[str]:
    problems = []
    for setting, spec in (
        ("SLAWATCH_ZENDESK_SECRETS", settings.zendesk_secrets.get_secret_value()),
        ("SLAWATCH_JIRA_SECRETS", settings.jira_secrets.get_secret_value()),
    ):
        try:
            secrets = parse_secrets(spec, setting)
        except ValueError as exc:  # names the entry by position, never its text
            problems.append(str(exc))
            continue
        for tenant, secret in secrets.items():
            if len(secret) < HELPDESK_SECRET_MIN:
                problems.append(
                    f"{setting}: the secret for {tenant!r} is shorter than"
                    f" {HELPDESK_SECRET_MIN} characters; use the one the help desk generated"
                )
    return problems


# Webhook secrets sign what receivers trust: as long as the help desks' own.
WEBHOOK_SECRET_MIN = HELPDESK_SECRET_MIN


def _outbound_secrets(settings: Settings) -> list[str]:
    """The worker's outbound settings: parseable, strong webhook secrets, email:token pairs."""
    problems = []
    spec = settings.webhook_secrets.get_secret_value()
    try:
        for name, secret in parse_secrets(spec, "SLAWATCH_WEBHOOK_SECRETS").items():
            if len(secret) < WEBHOOK_SECRET_MIN:
                problems.append(
                    f"SLAWATCH_WEBHOOK_SECRETS: the secret for {name!r} is shorter than"
                    f" {WEBHOOK_SECRET_MIN} characters; generate a long random one"
                )
    except ValueError as exc:  # names the entry by position, never its text
        problems.append(str(exc))
    for setting, value in (
        ("SLAWATCH_ZENDESK_API_TOKENS", settings.zendesk_api_tokens),
        ("SLAWATCH_JIRA_API_TOKENS", settings.jira_api_tokens),
    ):
        try:
            tokens = parse_secrets(value.get_secret_value(), setting)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for tenant, pair in tokens.items():
            email, _, token = pair.partition(":")
            if not email or not token:
                problems.append(f"{setting}: the entry for {tenant!r} is not email:api-token")
    return problems


def production_problems(settings: Settings, roles: Iterable[Role] = ALL_ROLES) -> list[str]:
    """One line per setting that must change before `roles` may run; empty when none.

    Inside the local stand-in mode nothing is refused. The lines name settings, never values.
    """
    reasons = why_not_local(settings)
    if not reasons:
        return []
    roles = frozenset(roles)
    problems = []
    if Role.API in roles:
        problems += _api_tokens(settings.api_tokens.get_secret_value())
        problems += _helpdesk_secrets(settings)
        feed = settings.oncall_feed_secret.get_secret_value()
        if feed and len(feed) < HELPDESK_SECRET_MIN:
            # Every feed URL's key is an HMAC under it: a short one is guessable offline.
            problems.append(
                f"SLAWATCH_ONCALL_FEED_SECRET is shorter than {HELPDESK_SECRET_MIN} characters;"
                " use a random one (e.g. openssl rand -hex 32) or leave it empty"
            )
    sid = settings.twilio_account_sid
    problems += _secret("SLAWATCH_TWILIO_ACCOUNT_SID", sid, DEV_ACCOUNT_SID)
    token = settings.twilio_auth_token.get_secret_value()
    problems += _secret("SLAWATCH_TWILIO_AUTH_TOKEN", token, DEV_TWILIO_AUTH_TOKEN)
    if Role.WORKER in roles:
        key = settings.sendgrid_api_key.get_secret_value()
        problems += _secret("SLAWATCH_SENDGRID_API_KEY", key, DEV_SENDGRID_API_KEY)
        problems += _outbound_secrets(settings)
    if settings.notifier_mode == "live" and urlsplit(settings.public_base_url).scheme != "https":
        # Twilio signs what it posts but does not encrypt it: acks and PINs travel in the body.
        problems.append("SLAWATCH_PUBLIC_BASE_URL must be an https:// URL in live mode")
    where = "; ".join(reasons)
    return [f"{problem} (outside the local stand-in mode: {where})" for problem in problems]
