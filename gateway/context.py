"""What every resolver gets: who calls, for which account, and that request's loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.auth.keys import Principal
from gateway.links import Links
from gateway.loaders import Loaders

if TYPE_CHECKING:
    from gateway.services import Services


@dataclass
class Context:
    services: Services
    principal: Principal
    loaders: Loaders
    links: Links
    request_id: str
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.principal.account_id


def make_context(services: Services, principal: Principal, request_id: str) -> Context:
    return Context(
        services=services,
        principal=principal,
        loaders=Loaders(services.db, principal.account_id),
        links=services.links,
        request_id=request_id,
    )
