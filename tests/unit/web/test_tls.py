"""The TLS flags, in Go's spelling, translated or refused with the flag's name; and the
contexts they make, checked with a real handshake."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from metallb.web.tls import (
    CIPHER_SUITES,
    TLSOptionError,
    metrics_ssl_context,
    parse_tls_options,
)


def test_defaults_are_tls13_only() -> None:
    opts = parse_tls_options()
    assert opts.min_version is ssl.TLSVersion.TLSv1_3
    assert opts.ciphers == ()
    assert opts.curves == ()


def test_go_names_become_openssl_names() -> None:
    opts = parse_tls_options(
        "VersionTLS12",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "23,29",
    )
    assert opts.min_version is ssl.TLSVersion.TLSv1_2
    assert opts.ciphers == ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384")
    assert opts.curves == ("prime256v1", "X25519")


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (("VersionTLS11", "", ""), "--tls-min-version", "VersionTLS11"),
        (("", "TLS_FAKE_SUITE", ""), "--tls-cipher-suites", "TLS_FAKE_SUITE"),
        (("", "", "23,99"), "--tls-curve-preferences", "99"),
        (("", "", "P256"), "--tls-curve-preferences", "P256"),
    ],
)
def test_unknown_values_are_refused_naming_the_flag(
    args: tuple[str, str, str], flag: str, value: str
) -> None:
    with pytest.raises(TLSOptionError) as err:
        parse_tls_options(*args)
    assert str(err.value).startswith(flag)
    assert value in str(err.value)


def test_every_known_suite_is_one_openssl_accepts() -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    for go, openssl_name in CIPHER_SUITES.items():
        ctx.set_ciphers(openssl_name)  # raises SSLError for a name OpenSSL lacks
        assert go.startswith("TLS_")


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[str, str]:
    """(protocol version, cipher) of a real handshake over a socket pair."""
    a, b = socket.socketpair()
    result: list[Exception] = []

    def serve() -> None:
        try:
            with server.wrap_socket(a, server_side=True) as s:
                s.recv(1)
        except Exception as err:
            result.append(err)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client.wrap_socket(b, server_hostname="localhost") as c:
            suite = c.cipher()
            assert suite is not None
            version, cipher = str(c.version()), suite[0]
            c.send(b"x")
    finally:
        t.join(5)
    assert not result, result
    return version, cipher


def _client(max_version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = max_version
    return ctx


def test_self_signed_metrics_context_speaks_tls13_and_refuses_tls12() -> None:
    server = metrics_ssl_context("", parse_tls_options())
    version, _ = _handshake(server, _client(ssl.TLSVersion.TLSv1_3))
    assert version == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        _handshake(metrics_ssl_context("", parse_tls_options()), _client(ssl.TLSVersion.TLSv1_2))


def test_tls12_with_one_suite_negotiates_that_suite() -> None:
    opts = parse_tls_options("VersionTLS12", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "24")
    version, cipher = _handshake(metrics_ssl_context("", opts), _client(ssl.TLSVersion.TLSv1_2))
    assert (version, cipher) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
