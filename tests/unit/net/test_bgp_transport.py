"""Socket options of the outbound BGP connection, read back from the kernel without
sending a packet: TTL per RFC 4271 eBGP practice, TCP-MD5 installed, source bound."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address

import pytest

from metallb.net.bgp import PeerOptions
from metallb.net.bgp.transport import TCP_MD5SIG, _make_socket, md5sig


def opts(**overrides: object) -> PeerOptions:
    base: dict[str, object] = {
        "peer_address": IPv4Address("192.0.2.1"),
        "local_asn": 64513,
        "peer_asn": 64512,
    }
    base.update(overrides)
    return PeerOptions(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "ttl"),
    [
        pytest.param({}, 1, id="eBGP: TTL 1"),
        pytest.param({"ebgp_multihop": True}, 255, id="eBGP multihop: TTL 255"),
        pytest.param({"local_asn": 64512}, 64, id="iBGP: the OS default"),
    ],
)
def test_ttl(overrides: dict[str, object], ttl: int) -> None:
    """Directly connected eBGP uses TTL 1, multihop 255, iBGP leaves the default (64)."""
    with _make_socket(opts(**overrides)) as sock:
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == ttl


def test_ipv6_peer_gets_hop_limit_and_an_ipv6_socket() -> None:
    """An IPv6 peer gets an AF_INET6 socket whose unicast hop limit follows the rule."""
    with _make_socket(opts(peer_address=IPv6Address("2001:db8::1"))) as sock:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 1


def test_source_address_is_bound_before_connecting() -> None:
    """sourceAddress is bound before the SYN (loopback here: nothing is sent)."""
    with _make_socket(opts(source_address=IPv4Address("127.0.0.1"))) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"


@pytest.mark.parametrize(
    "peer", [IPv4Address("192.0.2.1"), IPv6Address("2001:db8::1")], ids=["IPv4", "IPv6"]
)
def test_md5_key_is_installed_for_the_peer(peer: IPv4Address | IPv6Address) -> None:
    """Deleting a TCP-MD5 key (key length 0) succeeds only if one exists for that
    address (else ENOENT): with a password there is one, without there is none."""
    delete = md5sig(peer, b"")
    with _make_socket(opts(peer_address=peer, password="s3cret")) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, delete)
    with _make_socket(opts(peer_address=peer)) as sock, pytest.raises(FileNotFoundError):
        sock.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, delete)
