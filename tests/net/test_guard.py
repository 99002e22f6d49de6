"""The outgoing HTTP guard: which addresses are refused, the allowlist, IPv6, and a DNS answer that
changes between the save-time check and the connection (DNS rebinding)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from analytics_engine.net import OutgoingPolicy, UrlNotAllowed, async_outgoing_client, check_url, outgoing_client
from tests.reports.servers import HookReceiver

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "169.254.1.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    server = HookReceiver()
    yield server
    server.close()


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    policy = OutgoingPolicy()
    assert policy.refusal(address) is not None
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlNotAllowed) as caught:
        check_url(f"http://{host}:8080/x", policy)
    assert caught.value.code == "url_not_allowed" and caught.value.status_code == 422


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert OutgoingPolicy().refusal(address) is None


def test_allowlist_cidr_host_and_metadata() -> None:
    policy = OutgoingPolicy.from_entries(["10.1.0.0/16", " hooks.internal ", "::1", ""])
    assert policy.refusal("10.1.200.3") is None
    assert policy.refusal("10.2.0.1") == "a private address"
    assert policy.refusal("::1") is None and policy.refusal("127.0.0.1") == "a loopback address"
    # A host name on the list passes whatever it resolves to; another name resolving there does not.
    check_url("http://hooks.internal/x", policy, resolve=lambda h, p: ["10.9.9.9"])
    with pytest.raises(UrlNotAllowed):
        check_url("http://other.internal/x", policy, resolve=lambda h, p: ["10.9.9.9"])
    assert OutgoingPolicy().refusal("169.254.169.254") == "a cloud metadata address"


def test_a_mixed_answer_is_refused_whole() -> None:
    with pytest.raises(UrlNotAllowed):
        check_url("http://mixed.test/", OutgoingPolicy(), resolve=lambda h, p: ["8.8.8.8", "127.0.0.1"])


def test_unresolvable_host_is_accepted_at_save_time() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    check_url("https://not-yet-registered.example/hook", OutgoingPolicy(), resolve=fail)  # no raise


def test_dns_answer_changing_between_check_and_connect_is_caught(receiver: HookReceiver) -> None:
    """The name resolves to a public address when the URL is saved and to 127.0.0.1 when the call is
    made: the connect-time check refuses it and the receiver gets nothing."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])

    def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    port = receiver.url.rsplit(":", 1)[1]
    url = f"http://rebind.test:{port}/hook"
    policy = OutgoingPolicy()
    check_url(url, policy, resolve=rebinding)  # save time: public, accepted
    with outgoing_client(policy, resolve=rebinding, timeout=5) as client, pytest.raises(UrlNotAllowed):
        client.post(url, content=b"{}")
    assert receiver.received == []


def test_connection_goes_to_the_checked_address(receiver: HookReceiver) -> None:
    """The guard connects to the address it checked (the name exists in no DNS): allowlisted, the
    request arrives; not allowlisted, it is refused."""
    port = receiver.url.rsplit(":", 1)[1]
    url = f"http://hooks.test:{port}/delivered"
    local = lambda h, p: ["127.0.0.1"]  # noqa: E731
    with outgoing_client(["127.0.0.0/8"], resolve=local, timeout=5) as client:
        assert client.post(url, content=b"{}").status_code == 200
    assert [r.path for r in receiver.received] == ["/delivered"]
    assert receiver.received[0].headers["host"] == f"hooks.test:{port}"
    with outgoing_client([], resolve=local, timeout=5) as client, pytest.raises(UrlNotAllowed):
        client.post(url, content=b"{}")
    assert len(receiver.received) == 1


def test_literal_loopback_refused_and_allowlisted(receiver: HookReceiver) -> None:
    with outgoing_client(timeout=5) as client, pytest.raises(UrlNotAllowed):
        client.post(receiver.url + "/x", content=b"{}")
    with outgoing_client(["127.0.0.1"], timeout=5) as client:
        assert client.post(receiver.url + "/x", content=b"{}").status_code == 200
    assert len(receiver.received) == 1


def test_ipv6_loopback_refused() -> None:
    with outgoing_client(timeout=5) as client, pytest.raises(UrlNotAllowed):
        client.get("http://[::1]:9/")
    with outgoing_client(timeout=5) as client, pytest.raises(UrlNotAllowed):
        client.get("http://[::ffff:127.0.0.1]:9/")


def test_redirects_are_not_followed() -> None:
    client = outgoing_client()
    assert client.follow_redirects is False and client._trust_env is False
    client.close()


def test_async_client_rebinding_and_allowlist(receiver: HookReceiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    url = f"http://hooks.test:{port}/async"

    async def run() -> None:
        async with async_outgoing_client(resolve=lambda h, p: ["127.0.0.1"], timeout=5) as client:
            with pytest.raises(UrlNotAllowed):
                await client.post(url, content=b"{}")
        async with async_outgoing_client(["hooks.test"], resolve=lambda h, p: ["127.0.0.1"], timeout=5) as client:
            assert (await client.post(url, content=b"{}")).status_code == 200

    asyncio.run(run())
    assert [r.path for r in receiver.received] == ["/async"]


def test_unresolvable_host_fails_at_delivery_as_a_connect_error() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with outgoing_client(resolve=fail, timeout=5) as client, pytest.raises(httpx.ConnectError):
        client.get("http://nowhere.test/")
