"""An httpx transport that checks where it connects, at connect time, and connects there.

Each request's host is resolved here; if any address it resolves to is refused, the request is
not sent. Otherwise the request goes to the first checked address itself (the URL's host is
replaced by the address; the ``Host`` header and the TLS server name stay the hostname, so the
certificate is verified against it). No second lookup happens, so a DNS answer that changes
between the check and the connection (rebinding) cannot redirect the call.

Connections are pooled per hostname, not per address: a kept-alive TLS connection verified for
one host is never reused for another host that resolves to the same address.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

import httpx

from gateway.notifications.addresses import IPAddress, RefusedUrl, check_address, resolve

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
# Hostnames whose connection pools are kept; the least recently used beyond are closed.
MAX_POOLS = 256


class RefusedAddress(httpx.TransportError):
    """The host resolved to an address webhooks may not reach."""


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = resolve,
        inner: Callable[[], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.make_pool = inner or (lambda: httpx.AsyncHTTPTransport(retries=0))
        self.pools: OrderedDict[tuple[str, str, int], httpx.AsyncBaseTransport] = OrderedDict()

    async def _pool(self, key: tuple[str, str, int]) -> httpx.AsyncBaseTransport:
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = self.make_pool()
            while len(self.pools) > MAX_POOLS:
                _, old = self.pools.popitem(last=False)
                await old.aclose()
        self.pools.move_to_end(key)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await self.resolver(host, port)
            if not self.allow_private:
                for ip in addresses:
                    check_address(ip, host)
        except RefusedUrl as error:
            raise RefusedAddress(str(error), request=request) from None
        pool = await self._pool((url.scheme, host.lower(), port))
        request.url = url.copy_with(host=str(addresses[0]))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools, self.pools = list(self.pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()
