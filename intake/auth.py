"""Bearer tokens per intake system, each scoped to a set of tenants (SLAWATCH_API_TOKENS)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

ALL_TENANTS = "*"


@dataclass(frozen=True)
class Caller:
    """Who a request comes from: a token's scope (never the token itself)."""

    name: str
    tenants: frozenset[str]

    def may_use(self, tenant: str) -> bool:
        return ALL_TENANTS in self.tenants or tenant in self.tenants

    def allowed(self) -> frozenset[str] | None:
        """The tenants this caller may see, or None for every tenant."""
        return None if ALL_TENANTS in self.tenants else self.tenants


def parse_tokens(spec: str) -> dict[str, frozenset[str]]:
    """Parse "token=tenant1,tenant2;token2=*"; raise ValueError naming the bad entry."""
    tokens: dict[str, frozenset[str]] = {}
    for i, entry in enumerate(p.strip() for p in spec.split(";")):
        if not entry:
            continue
        token, sep, scope = entry.partition("=")
        tenants = frozenset(t.strip() for t in scope.split(",") if t.strip())
        if not sep or not token.strip() or not tenants:
            # The position, not the entry: the entry holds a secret.
            raise ValueError(
                f"SLAWATCH_API_TOKENS entry {i + 1}: expected token=tenant1,tenant2 or token=*"
            )
        tokens[token.strip()] = tenants
    return tokens


class TokenAuth:
    """Checks `Authorization: Bearer <token>` in constant time against the configured tokens."""

    def __init__(self, spec: str) -> None:
        self._tokens = parse_tokens(spec)

    def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                "missing bearer token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        given = token.strip().encode()
        for n, (known, tenants) in enumerate(self._tokens.items()):
            if hmac.compare_digest(given, known.encode()):
                return Caller(name=f"token#{n + 1}", tenants=tenants)
        raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_tenant(caller: Caller, tenant: str) -> None:
    if not caller.may_use(tenant):
        raise HTTPException(403, f"this token may not act for tenant {tenant!r}")
