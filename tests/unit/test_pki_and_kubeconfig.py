"""The lab's certificates carry what the apiserver and its clients check."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metallb.lab.controlplane import sweep_stale_workdirs, write_kubeconfig
from metallb.lab.pki import CertificateAuthority


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_serving_certificate_has_ip_san_and_is_signed_by_ca(tmp_path: Path) -> None:
    """A webhook or apiserver on 127.0.0.1 needs an IP SAN, not only a CN."""
    ca = CertificateAuthority(tmp_path)
    pair = ca.issue(
        "srv", "server", dns_names=("localhost",), ip_addresses=("127.0.0.1",), server=True
    )
    cert = _load(pair.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(_load(ca.files.cert))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert pair.key.stat().st_mode & 0o777 == 0o600


def test_client_certificate_carries_user_and_groups(tmp_path: Path) -> None:
    """Kubernetes reads the user from CN and the groups from O."""
    ca = CertificateAuthority(tmp_path)
    cert = _load(ca.issue("admin", "admin", organizations=("system:masters",), client=True).cert)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "admin"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"


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
