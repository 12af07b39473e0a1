"""Bearer tokens per intake system, each scoped to a set of tenants (SLAWATCH_API_TOKENS)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import HTTPException, Request

from slawatch.secret_specs import ALL_TENANTS, parse_tokens

__all__ = ["ALL_TENANTS", "Caller", "TokenAuth", "parse_tokens"]


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


class TokenAuth:
    """Checks `Authorization: Bearer <token>` in constant time against the configured tokens."""

    def __init__(self, spec: str) -> None:
        self._tokens = parse_tokens(spec)

    def _known(self, header: str) -> tuple[int, str, frozenset[str]] | None:
        """(position, token, tenants) of the bearer token in `header`, compared in constant time."""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        given = token.strip().encode()
        for n, (known, tenants) in enumerate(self._tokens.items()):
            if hmac.compare_digest(given, known.encode()):
                return n, known, tenants
        return None

    def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                "missing bearer token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        known = self._known(header)
        if known is None:
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        n, _, tenants = known
        return Caller(name=f"token#{n + 1}", tenants=tenants)

    def scope_of(self, header: str) -> str | None:
        """A stable name for the token in `header` (None if unknown) that does not reveal it.

        A digest, not the position: idempotency keys must stay the token's across restarts and
        replicas even when the configured list is reordered.
        """
        known = self._known(header)
        return None if known is None else hashlib.sha256(known[1].encode()).hexdigest()[:32]


def require_tenant(caller: Caller, tenant: str) -> None:
    if not caller.may_use(tenant):
        raise HTTPException(403, f"this token may not act for tenant {tenant!r}")
