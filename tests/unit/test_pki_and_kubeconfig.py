"""Certificates carry what the apiserver and webhook clients check; kubeconfigs and
work-dir sweeping behave as the control plane relies on."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metallb.lab.components import write_kubeconfig
from metallb.lab.controlplane import sweep_stale_workdirs
from metallb.web.pki import CertificateAuthority, write_pair


def _load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_serving_certificate_has_ip_san_and_is_signed_by_ca() -> None:
    """A webhook or apiserver on 127.0.0.1 needs an IP SAN, not only a CN."""
    ca = CertificateAuthority.create()
    pair = ca.issue("server", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True)
    cert = _load(pair.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(_load(ca.pem.cert))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.signed(pair)


def test_client_certificate_carries_user_and_groups() -> None:
    """Kubernetes reads the user from CN and the groups from O."""
    ca = CertificateAuthority.create()
    cert = _load(ca.issue("admin", organizations=("system:masters",), client=True).cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert org == "system:masters"


def test_reloaded_ca_signs_and_recognises_its_certificates() -> None:
    """A CA kept as PEM (the webhook's Secret) still signs, and tells its own certs apart."""
    ca = CertificateAuthority.create()
    again = CertificateAuthority.load(ca.pem)
    pair = again.issue("svc", dns_names=("svc.ns.svc",), server=True)
    assert ca.signed(pair)
    assert not CertificateAuthority.create().signed(pair)


def test_leaf_never_outlives_its_ca() -> None:
    """A certificate asked to live longer than the CA is cut at the CA's expiry."""
    ca = CertificateAuthority.create(validity=dt.timedelta(days=1))
    pair = ca.issue("x", server=True, validity=dt.timedelta(days=365))
    assert pair.not_after <= _load(ca.pem.cert).not_valid_after_utc


def test_written_private_key_is_owner_only(tmp_path: Path) -> None:
    """Keys on disk are 0600 even when the file existed with a wider mode."""
    (tmp_path / "k.key").write_text("old")
    (tmp_path / "k.key").chmod(0o644)
    paths = write_pair(tmp_path, "k", CertificateAuthority.create().pem)
    assert paths.key.stat().st_mode & 0o777 == 0o600
    assert paths.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_kubeconfig_with_token(tmp_path: Path) -> None:
    """A token kubeconfig names the server and CA and carries the token."""
    path = write_kubeconfig(
        tmp_path / "k", server="https://127.0.0.1:1", ca=tmp_path / "ca", user="sa", token="abc"
    )
    doc = yaml.safe_load(path.read_text())
    assert doc["users"][0]["user"] == {"token": "abc"}
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:1"
    assert doc["current-context"] == "sa"


def test_sweep_removes_only_dead_owners(tmp_path: Path) -> None:
    """Work dirs left by a killed run are removed; a live run's dir is kept."""
    dead = tmp_path / "metallb-controlplane-dead"
    live = tmp_path / "metallb-controlplane-live"
    for d in (dead, live):
        d.mkdir()
    (dead / "owner.pid").write_text("999999999")
    (live / "owner.pid").write_text(str(os.getpid()))
    assert sweep_stale_workdirs(tmp_path) == [dead]
    assert live.exists()
    assert not dead.exists()
