"""TLS of the servers both components run (metrics, webhook), set by upstream's flags.

Upstream's ``--tls-min-version``, ``--tls-cipher-suites`` and ``--tls-curve-preferences``
take Go's names: ``VersionTLS12``/``VersionTLS13``, cipher suite constants such as
``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`` (they only matter for TLS 1.2: TLS 1.3 suites
are not configurable, in Go as in OpenSSL), and numeric ``tls.CurveID`` values (23 is
P-256, 24 P-384, 25 P-521, 29 X25519). :func:`parse_tls_options` maps them to OpenSSL's
names and refuses, naming the flag, what it does not know.

Python's ``ssl`` module sets one ECDH curve, not a preference list: the first curve of
``--tls-curve-preferences`` is the one used for TLS 1.2 key exchange; a warning says so
when more are given.

``--metrics-cert-dir`` names a directory with ``tls.crt`` and ``tls.key``; without it
the metrics server makes itself a certificate at start (controller-runtime does the
same), which scrapers accept with ``insecureSkipVerify`` as upstream documents.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from metallb.web.pki import CertificateAuthority

log = logging.getLogger(__name__)

MIN_VERSIONS = {
    "": ssl.TLSVersion.TLSv1_3,  # upstream's default
    "VersionTLS12": ssl.TLSVersion.TLSv1_2,
    "VersionTLS13": ssl.TLSVersion.TLSv1_3,
}

# Go's crypto/tls constant name -> OpenSSL cipher name (TLS 1.2 suites).
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
}

# Go's tls.CurveID -> OpenSSL curve name.
CURVES = {23: "prime256v1", 24: "secp384r1", 25: "secp521r1", 29: "X25519"}


class TLSOptionError(ValueError):
    """A TLS flag holds a value this program does not know; the message names the flag."""


@dataclass(frozen=True)
class TLSOptions:
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    ciphers: tuple[str, ...] = ()  # OpenSSL names
    curves: tuple[str, ...] = ()  # OpenSSL names, in preference order


def parse_tls_options(
    min_version: str = "", cipher_suites: str = "", curves: str = ""
) -> TLSOptions:
    """The three flags' values, as upstream spells them, checked and translated."""
    if min_version not in MIN_VERSIONS:
        raise TLSOptionError(
            f"--tls-min-version: {min_version!r} is not one of VersionTLS12, VersionTLS13"
        )
    names = [c.strip() for c in cipher_suites.split(",") if c.strip()]
    unknown = [c for c in names if c not in CIPHER_SUITES]
    if unknown:
        raise TLSOptionError(f"--tls-cipher-suites: unknown cipher suite(s) {', '.join(unknown)}")
    ids: list[str] = [c.strip() for c in curves.split(",") if c.strip()]
    bad = [c for c in ids if not c.isdigit() or int(c) not in CURVES]
    if bad:
        known = ", ".join(f"{k} ({v})" for k, v in CURVES.items())
        raise TLSOptionError(
            f"--tls-curve-preferences: unknown curve ID(s) {', '.join(bad)}; known: {known}"
        )
    return TLSOptions(
        MIN_VERSIONS[min_version],
        tuple(CIPHER_SUITES[c] for c in names),
        tuple(CURVES[int(c)] for c in ids),
    )


def server_ssl_context(cert: Path, key: Path, options: TLSOptions | None = None) -> ssl.SSLContext:
    """A server context for ``cert``/``key`` with ``options`` (TLS 1.3 only by default,
    as upstream)."""
    opts = options or TLSOptions()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = opts.min_version
    if opts.ciphers:
        ctx.set_ciphers(":".join(opts.ciphers))
    if opts.curves:
        ctx.set_ecdh_curve(opts.curves[0])
        if len(opts.curves) > 1:
            log.warning(
                "--tls-curve-preferences: only the first curve (%s) is used for TLS 1.2",
                opts.curves[0],
            )
    ctx.load_cert_chain(str(cert), str(key))
    # HTTP/1.1 only: upstream turns HTTP/2 off by default (CVE-2023-44487, rapid reset)
    # and aiohttp does not serve it, so --webhook-http2 is accepted and has no effect.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def metrics_ssl_context(
    cert_dir: str, options: TLSOptions, names: tuple[str, ...] = ("localhost",)
) -> ssl.SSLContext:
    """The metrics server's context: ``cert_dir``'s ``tls.crt``/``tls.key`` if given,
    else a certificate made now for ``names`` (and 127.0.0.1), held only in memory once
    loaded."""
    if cert_dir:
        directory = Path(cert_dir)
        return server_ssl_context(directory / "tls.crt", directory / "tls.key", options)
    ca = CertificateAuthority.create("metallb-py metrics (self-signed)")
    pair = ca.issue(names[0], dns_names=names, ip_addresses=("127.0.0.1",), server=True)
    # The containers' root filesystem is read-only and has no /tmp: the pair goes to
    # anonymous memory files, which ssl reads through /proc/self/fd.
    cert_fd, key_fd = os.memfd_create("metrics-crt"), os.memfd_create("metrics-key")
    try:
        os.write(cert_fd, pair.cert)
        os.write(key_fd, pair.key)
        fds = Path(f"/proc/self/fd/{cert_fd}"), Path(f"/proc/self/fd/{key_fd}")
        return server_ssl_context(*fds, options)
    finally:
        os.close(cert_fd)
        os.close(key_fd)
