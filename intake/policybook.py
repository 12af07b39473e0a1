"""Tenant policies as the API sees them: loaded on demand, reloaded when the file changes."""

from __future__ import annotations

from pathlib import Path

from intake.errors import ApiError
from policies.loader import PolicyError, available_tenants, load_policy_file, policy_path
from policies.schema import Policy


class PolicyBook:
    """Looks up a tenant's policy; an unknown tenant is a 422 naming the field."""

    def __init__(self, policy_dir: Path | None) -> None:
        self.policy_dir = policy_dir
        self._cache: dict[Path, tuple[float, Policy]] = {}

    def tenants(self) -> list[str]:
        return available_tenants(self.policy_dir)

    def get(self, tenant: str, field: str = "tenant") -> Policy:
        if tenant not in self.tenants():
            # Never the list of tenants: one tenant's client must not learn the others' names.
            raise ApiError(422, f"unknown tenant {tenant!r}", field=field)
        try:
            path = policy_path(tenant, self.policy_dir)
            mtime = path.stat().st_mtime
            cached = self._cache.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
            policy = load_policy_file(path)
        except PolicyError as exc:
            # A broken policy file is the operator's problem, not the client's: 503, no detail.
            raise ApiError(503, f"the policy for tenant {tenant!r} cannot be loaded") from exc
        self._cache[path] = (mtime, policy)
        return policy

    def check_class(self, policy: Policy, severity: str | None, field: str = "severity") -> None:
        if severity is not None and severity not in policy.classes:
            known = ", ".join(policy.classes)
            raise ApiError(
                422, f"unknown class {severity!r} for {policy.tenant} (known: {known})", field=field
            )

    def check_category(self, policy: Policy, category: str | None) -> None:
        if category is not None and category not in policy.categories:
            known = ", ".join(policy.categories) or "none"
            raise ApiError(
                422,
                f"unknown category {category!r} for {policy.tenant} (known: {known})",
                field="category",
            )
