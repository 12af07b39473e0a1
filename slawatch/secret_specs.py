"""The syntax of the settings that list secrets per caller or tenant (pure, stdlib only).

`slawatch.safety` checks them at start-up and `intake/` reads them when serving, so they live in
the foundation: the start-up check must not import the API package above it. A ValueError names
the bad entry by its position, never its text, which holds a secret.
"""

from __future__ import annotations

ALL_TENANTS = "*"


def parse_tokens(spec: str) -> dict[str, frozenset[str]]:
    """Parse SLAWATCH_API_TOKENS, "token=tenant1,tenant2;token2=*"."""
    tokens: dict[str, frozenset[str]] = {}
    for i, entry in enumerate(p.strip() for p in spec.split(";")):
        if not entry:
            continue
        token, sep, scope = entry.partition("=")
        tenants = frozenset(t.strip() for t in scope.split(",") if t.strip())
        if not sep or not token.strip() or not tenants:
            raise ValueError(
                f"SLAWATCH_API_TOKENS entry {i + 1}: expected token=tenant1,tenant2 or token=*"
            )
        tokens[token.strip()] = tenants
    return tokens


def parse_secrets(spec: str, setting: str) -> dict[str, str]:
    """Parse a help-desk secrets setting, "tenant=secret;tenant2=secret2"."""
    secrets: dict[str, str] = {}
    for i, entry in enumerate(p.strip() for p in spec.split(";")):
        if not entry:
            continue
        tenant, sep, secret = entry.partition("=")
        if not sep or not tenant.strip() or not secret.strip():
            raise ValueError(f"{setting} entry {i + 1}: expected tenant=secret")
        secrets[tenant.strip()] = secret.strip()
    return secrets
