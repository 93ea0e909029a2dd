"""An httpx transport that checks where it connects, at connect time, and connects there.

Each request's host is resolved here; if any address it resolves to is refused, the request is
not sent. Otherwise the request goes to the first checked address itself (the URL's host is
replaced by the address; the ``Host`` header and the TLS server name stay the hostname, so the
certificate is verified against it). No second lookup happens, so a DNS answer that changes
between the check and the connection (rebinding) cannot redirect the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from gateway.notifications.addresses import IPAddress, RefusedUrl, check_address, resolve

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class RefusedAddress(httpx.TransportError):
    """The host resolved to an address webhooks may not reach."""


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = resolve,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)

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
        request.url = url.copy_with(host=str(addresses[0]))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
