"""Where webhooks may go: every refused address form, the URL rules at setErrorNotifications
time (default settings: https only, public addresses only), and the transport that checks at
connect time and connects to the address it checked."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest

from gateway.notifications import addresses
from gateway.notifications.addresses import literal_address, refusal, split_url
from gateway.notifications.transport import PinnedTransport, RefusedAddress
from tests.conftest import Api
from tests.notify_support import receiver

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "2130706433": "loopback",
    "127.1": "loopback",
    "0x7f.1": "loopback",
    "0177.0.0.1": "loopback",
    "0x7f000001": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "169.254.169.254": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "255.255.255.255": "private",
    "::ffff:127.0.0.1": "loopback (IPv4-mapped form)",
    "::ffff:10.0.0.1": "private (IPv4-mapped form)",
    "::ffff:169.254.169.254": "link-local (IPv4-mapped form)",
    "64:ff9b::7f00:1": "loopback (NAT64 form)",
    "64:ff9b::a9fe:a9fe": "link-local (NAT64 form)",
    "64:ff9b:1::a00:1": "local-use NAT64",
    "2002:7f00:1::": "loopback (6to4 form)",
    "2002:c0a8:101::": "private (6to4 form)",
    "::127.0.0.1": "IPv4-compatible",
}
ALLOWED = [
    "8.8.8.8",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]


@pytest.mark.parametrize(("host", "why"), REFUSED.items())
def test_refused_address_forms(host: str, why: str) -> None:
    ip = literal_address(host)
    assert ip is not None
    reason = refusal(ip)
    assert reason is not None
    assert reason.startswith(why)


@pytest.mark.parametrize("host", ALLOWED)
def test_public_addresses_pass(host: str) -> None:
    ip = literal_address(host)
    assert ip is not None
    assert refusal(ip) is None


def test_names_are_not_read_as_numbers() -> None:
    assert literal_address("cafe.de") is None
    assert literal_address("hooks.example.com") is None


SET = "mutation($i: ErrorNotificationsInput!) { setErrorNotifications(input: $i) { webhookUrl } }"


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        "ftp://8.8.8.8/hook",
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://127.1/hook",
        "https://0x7f.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.1.1/hook",
        "https://10.1.2.3/hook",
        "https://localhost/hook",
        "https://user:secret@8.8.8.8/hook",
        "https:///nohost",
        "not a url",
        "https://\u2603.net/hook",  # not a hostname in IDNA 2008, which the sender speaks
        "https://a..example.com/hook",  # the resolver refuses an empty label
        "https://" + "a" * 64 + ".example.com/hook",  # and a label over 63 characters
    ],
)
async def test_refused_urls_are_bad_user_input(admin: Api, url: str) -> None:
    assert await admin.error_codes(SET, {"i": {"webhookUrl": url}}) == ["BAD_USER_INPUT"]


async def test_a_public_https_url_is_taken_and_viewers_may_not_set_or_list(
    admin: Api, viewer: Api
) -> None:
    data = await admin.data(SET, {"i": {"webhookUrl": "https://8.8.8.8/hook"}})
    assert data["setErrorNotifications"]["webhookUrl"] == "https://8.8.8.8/hook"
    assert await viewer.error_codes(SET, {"i": {"enabled": False}}) == ["FORBIDDEN"]
    assert await viewer.error_codes("{ notificationDeliveries { totalCount } }") == ["FORBIDDEN"]
    # nor read the webhook URL (it may carry a token), though they read the account
    seen = await viewer.raw("{ viewer { accountId errorNotifications { webhookUrl } } }")
    assert [err["extensions"]["code"] for err in seen["errors"]] == ["FORBIDDEN"]
    assert seen["data"]["viewer"] == {"accountId": viewer.account_id, "errorNotifications": None}
    assert await admin.error_codes(SET, {"i": {"minIntervalSeconds": -1}}) == ["BAD_USER_INPUT"]


def _resolver(*addresses: str, calls: list[str] | None = None) -> Any:
    async def resolve(host: str, port: int) -> list[Any]:
        if calls is not None:
            calls.append(host)
        return [ipaddress.ip_address(a) for a in addresses]

    return resolve


@pytest.mark.parametrize("addresses", [("10.0.0.5",), ("8.8.8.8", "127.0.0.1"), ("::1",)])
async def test_the_transport_refuses_at_connect_time(addresses: tuple[str, ...]) -> None:
    transport = PinnedTransport(resolver=_resolver(*addresses))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(RefusedAddress):
            await client.post("https://hooks.example.com/x", content=b"{}")


async def test_the_transport_connects_to_the_address_it_checked() -> None:
    calls: list[str] = []
    with receiver() as hook:
        port = hook.server.server_address[1]
        transport = PinnedTransport(
            allow_private=True, resolver=_resolver("127.0.0.1", calls=calls)
        )
        async with httpx.AsyncClient(transport=transport) as client:
            # hooks.invalid resolves nowhere: only the checked address can have been reached.
            response = await client.post(f"http://hooks.invalid:{port}/hook", content=b"{}")
    assert response.status_code == 200
    assert calls == ["hooks.invalid"]
    [request] = hook.received
    assert request.headers["host"] == f"hooks.invalid:{port}"


async def test_connections_are_pooled_per_hostname_not_per_address() -> None:
    with receiver() as hook:
        port = hook.server.server_address[1]
        transport = PinnedTransport(allow_private=True, resolver=_resolver("127.0.0.1"))
        async with httpx.AsyncClient(transport=transport) as client:
            for host in ("a.invalid", "b.invalid", "a.invalid"):
                await client.post(f"http://{host}:{port}/hook", content=b"{}")
            assert [key[1] for key in transport.pools] == ["b.invalid", "a.invalid"]
    assert [r.headers["host"].split(":")[0] for r in hook.received] == [
        "a.invalid",
        "b.invalid",
        "a.invalid",
    ]


def test_the_host_checked_is_the_one_the_sender_calls() -> None:
    # IDNA 2008 (httpx), not Python's IDNA 2003 codec, which reads straße as strasse
    assert split_url("https://stra\u00dfe.de/hook", False)[1] == "xn--strae-oqa.de"


async def test_a_refusal_does_not_show_what_a_name_resolves_to(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def private(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("10.2.3.4")]

    monkeypatch.setattr(addresses, "resolve", private)
    errors = (await admin.raw(SET, {"i": {"webhookUrl": "https://internal.example.com/x"}}))[
        "errors"
    ]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert "10.2.3.4" not in errors[0]["message"]
