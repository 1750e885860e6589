"""AES-256-GCM envelope for membership packets, keyed from the ``memberlist`` Secret. Pure.

Key derivation. The controller puts ``secretkey`` (upstream: unpadded base64 of 16
random bytes) into the ``memberlist`` Secret; every speaker reads the same bytes. The
cluster key is ``HKDF-SHA256(ikm=secretkey bytes as stored, salt=none,
info="metallb-py memberlist v1")``, 32 bytes. Upstream's Go memberlist instead uses
``(secret || SHA-256(""))[:32]`` directly as the AES key; we do not interoperate with Go
memberlist (our packet format is our own), so we use a proper KDF and a domain label.

Per-sender keys and nonces. A random 96-bit GCM nonce is safe for about 2**32 packets
per key; a cluster of 100 speakers each sending ~30 packets/s reaches that in weeks. So
each sender picks a random 16-byte ``salt`` when it starts, encrypts with
``HKDF(cluster key, salt, info="... sender")`` and numbers its packets with a 96-bit
counter: nonces never repeat for a key, whatever the packet rate. Receivers derive (and
cache, after a packet authenticates) the key of each salt they see.

Envelope::

    u8 envelope version (1) | 16 bytes salt | 12 bytes nonce | ciphertext + 16-byte tag

The associated data is the envelope header plus a channel byte (``U`` datagram, ``T``
stream), so a datagram cannot be replayed as a stream frame. There is no replay window:
an attacker without the key can replay old packets, and the incarnation order (a member
refutes stale suspicions of itself) limits what that achieves; a replayed ack can at
worst hide a failure for one probe.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from metallb.speaker.membership.wire import DropReason, WireError

ENVELOPE_VERSION = 1
SALT_LEN = 16
NONCE_LEN = 12
TAG_LEN = 16
HEADER_LEN = 1 + SALT_LEN + NONCE_LEN
OVERHEAD = HEADER_LEN + TAG_LEN
_INFO = b"metallb-py memberlist v1"
_MAX_CACHED_SENDERS = 1024

DATAGRAM = b"U"
STREAM = b"T"


def derive_key(secret: bytes) -> bytes:
    """The 32-byte cluster key from the Secret's ``secretkey`` value (bytes as stored)."""
    if not secret:
        raise ValueError("the memberlist secret is empty")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def _sender_key(key: bytes, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO + b" sender")
    return AESGCM(hkdf.derive(key))


class Envelope:
    """Seals outgoing packets under this sender's key and opens anyone's with the cluster key.

    ``salt`` is for tests (deterministic output); leave it out in real use.
    """

    def __init__(self, key: bytes, *, salt: bytes | None = None) -> None:
        if len(key) != 32:
            raise ValueError("the cluster key is 32 bytes (use derive_key)")
        self._key = key
        self._salt = salt if salt is not None else secrets.token_bytes(SALT_LEN)
        if len(self._salt) != SALT_LEN:
            raise ValueError(f"salt must be {SALT_LEN} bytes")
        self._aead = _sender_key(key, self._salt)
        self._counter = 0
        self._peers: OrderedDict[bytes, AESGCM] = OrderedDict()

    def seal(self, plaintext: bytes, channel: bytes) -> bytes:
        """Encrypt and authenticate one packet for ``channel`` (DATAGRAM or STREAM)."""
        self._counter += 1
        header = bytes([ENVELOPE_VERSION]) + self._salt + self._counter.to_bytes(NONCE_LEN)
        return header + self._aead.encrypt(header[1 + SALT_LEN :], plaintext, header + channel)

    def open(self, data: bytes, channel: bytes) -> bytes:
        """Authenticate and decrypt; raises only :class:`WireError` (reason AUTH or VERSION)."""
        if len(data) < OVERHEAD:
            raise WireError("shorter than the envelope", DropReason.AUTH)
        if data[0] != ENVELOPE_VERSION:
            raise WireError(f"envelope version {data[0]}", DropReason.VERSION)
        header = data[:HEADER_LEN]
        salt, nonce = header[1 : 1 + SALT_LEN], header[1 + SALT_LEN :]
        aead = self._peers.get(salt) or _sender_key(self._key, salt)
        try:
            plaintext = aead.decrypt(nonce, data[HEADER_LEN:], header + channel)
        except InvalidTag as exc:
            raise WireError("authentication failed (wrong key?)", DropReason.AUTH) from exc
        # Cache only keys that authenticated, so garbage cannot flush the cache.
        self._peers[salt] = aead
        self._peers.move_to_end(salt)
        if len(self._peers) > _MAX_CACHED_SENDERS:
            self._peers.popitem(last=False)
        return plaintext
