"""What every resolver gets: who calls, for which account, and that request's loaders.

A WebSocket connection has a ``ConnectionContext``: its principal is unknown until the client's
``connection_init`` has been authenticated. Each operation on the socket then runs with a
``Context`` of its own, whose loaders a subscription renews for every event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.auth.keys import Principal
from gateway.links import Links
from gateway.loaders import Loaders

if TYPE_CHECKING:
    from gateway.ratelimit.limiter import Charge, RateLimiter
    from gateway.services import Services


@dataclass
class ResponseBudget:
    """The bytes of stored bodies an operation may still put in its answer. Bodies are the
    large part of any answer: counting them as they resolve stops a query at about the
    response size limit instead of building a gigabyte and refusing it afterwards."""

    remaining: int
    exceeded: bool = False

    def take(self, size: int) -> bool:
        """Whether a body of ``size`` bytes still fits (it is then counted)."""
        if self.exceeded:
            return False
        self.remaining -= size
        if self.remaining < 0:
            self.exceeded = True
            return False
        return True


@dataclass
class Context:
    services: Services
    principal: Principal
    loaders: Loaders
    links: Links
    request_id: str
    extras: dict[str, Any] = field(default_factory=dict)
    # The Authorization value the principal came from: a subscription checks it again per event.
    authorization: str | None = None
    budget: ResponseBudget = field(default_factory=lambda: ResponseBudget(2**62))
    # Charges the operation's cost before it runs (requests from clients; None for the
    # server's own operations, such as seeding); ``rate_limit`` is what it charged.
    rate_limiter: RateLimiter | None = None
    rate_limit: Charge | None = None

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    def renew_loaders(self) -> None:
        """Fresh loaders: nothing loaded before (an earlier event) is served again."""
        self.loaders = Loaders(self.services.db, self.principal.account_id)
        self.budget = ResponseBudget(self.services.settings.max_response_bytes)


def make_context(
    services: Services,
    principal: Principal,
    request_id: str,
    authorization: str | None = None,
    *,
    limited: bool = False,
) -> Context:
    """``limited``: the operation comes from a client and is charged to its key."""
    return Context(
        services=services,
        principal=principal,
        loaders=Loaders(services.db, principal.account_id),
        links=services.links,
        request_id=request_id,
        authorization=authorization,
        budget=ResponseBudget(services.settings.max_response_bytes),
        rate_limiter=services.rate_limiter if limited else None,
    )


@dataclass
class ConnectionContext:
    """One WebSocket connection: ``principal`` is set once ``connection_init`` is accepted."""

    services: Services
    request_id: str
    # The Authorization header of the upgrade request, if it had one.
    header_authorization: str | None = None
    # Set by strawberry from the connection_init payload.
    connection_params: dict[str, Any] | None = None
    principal: Principal | None = None
    authorization: str | None = None
    operations: int = 0

    def for_operation(self) -> Context:
        """A context of its own for one operation on this connection (its own loaders)."""
        assert self.principal is not None, "no operation runs before connection_init"
        self.operations += 1
        return make_context(
            self.services,
            self.principal,
            f"{self.request_id}.{self.operations}",
            self.authorization,
            limited=True,
        )
