"""A small certificate authority: the webhook's serving certificates and the lab's.

One self-signed CA signs serving certificates (the webhook's, the test
apiserver's) and client certificates (a client certificate's CN is the
Kubernetes user name and its O entries are the groups). Everything is produced
as PEM bytes, so the webhook can keep its CA in a Secret; :func:`write_pair`
puts a pair on disk with the private key readable by its owner only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_VALIDITY = dt.timedelta(days=365)
# Clocks of the signer and the verifier may differ a little.
_BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class PemPair:
    """A certificate and its private key, PEM encoded."""

    cert: bytes
    key: bytes

    @property
    def not_after(self) -> dt.datetime:
        return x509.load_pem_x509_certificate(self.cert).not_valid_after_utc


@dataclass(frozen=True)
class KeyPair:
    """Paths of a certificate (or public key) file and its private key file."""

    cert: Path
    key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


class CertificateAuthority:
    """A CA held in memory, able to sign serving and client certificates."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self._cert = cert
        self._key = key

    @classmethod
    def create(
        cls,
        common_name: str = "metallb-py CA",
        *,
        organizations: tuple[str, ...] = (),
        validity: dt.timedelta = DEFAULT_VALIDITY,
    ) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = _name(common_name, organizations)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, pair: PemPair) -> CertificateAuthority:
        """Re-open a CA kept as PEM (in a Secret, say)."""
        key = serialization.load_pem_private_key(pair.key, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("CA key is not an EC private key")
        return cls(x509.load_pem_x509_certificate(pair.cert), key)

    @property
    def pem(self) -> PemPair:
        """The CA's own certificate and key; ``pem.cert`` is what a caBundle holds."""
        return PemPair(self._cert.public_bytes(serialization.Encoding.PEM), _key_pem(self._key))

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        server: bool = False,
        client: bool = False,
        validity: dt.timedelta = DEFAULT_VALIDITY,
    ) -> PemPair:
        """Sign a new leaf certificate for a fresh key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usages = []
        if server:
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organizations))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(min(now + validity, self._cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return PemPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def signed(self, pair: PemPair) -> bool:
        """True when ``pair.cert`` was issued by this CA and is valid now."""
        try:
            cert = x509.load_pem_x509_certificate(pair.cert)
            cert.verify_directly_issued_by(self._cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        now = dt.datetime.now(dt.UTC)
        return cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def subject_names(pair: PemPair) -> set[str]:
    """The DNS names and IP addresses (as text) a certificate is valid for."""
    cert = x509.load_pem_x509_certificate(pair.cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    }


def write_pair(directory: Path, stem: str, pair: PemPair, *, cert_suffix: str = ".crt") -> KeyPair:
    """Write ``<stem><cert_suffix>`` and ``<stem>.key`` (mode 0600) into ``directory``."""
    paths = KeyPair(directory / f"{stem}{cert_suffix}", directory / f"{stem}.key")
    paths.cert.write_bytes(pair.cert)
    fd = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, 0o600)  # also when the file existed with a wider mode
        out.write(pair.key)
    return paths


def signing_key() -> PemPair:
    """A fresh EC key pair for token signing: ``cert`` holds the public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PemPair(public, _key_pem(key))
