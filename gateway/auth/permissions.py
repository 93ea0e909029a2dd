"""Who may call what, declared once and attached to root fields and mutations only."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission


class _Role(BasePermission):
    roles: frozenset[str] = frozenset()
    message = "This API key's role may not do this."
    error_extensions = {"code": "FORBIDDEN"}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return info.context.principal.role in self.roles


class CanRead(_Role):
    roles = frozenset({"VIEWER", "ADMIN"})
    message = "Queries need a viewer or admin key."


class CanAdmin(_Role):
    roles = frozenset({"ADMIN"})
    message = "This needs an admin key."


class CanIngest(_Role):
    roles = frozenset({"INGEST", "ADMIN"})
    message = "ingestEvents needs an ingest or admin key."
