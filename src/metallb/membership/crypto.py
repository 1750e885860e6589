"""memberlist's encryption, keyed from the ``memberlist`` Secret as upstream's speaker does. Pure.

Key. Upstream's speaker (``internal/speakerlist/speakerlist.go``) sets memberlist's
``SecretKey`` to ``sha256.New().Sum(secret)[:32]``: Go's ``Sum`` *appends* the digest of
what was written (nothing) to its argument, so the key is the first 32 bytes of
``secret || SHA-256("")``, where ``secret`` is the Secret's ``secretkey`` value as stored
(upstream's controller writes unpadded base64 of random bytes). A 32-byte key selects
AES-256. No key derivation function: this is what the Go peers use, so it is what we use.

Envelope (``security.go`` of hashicorp/memberlist v0.5.1)::

    u8 version | 12-byte nonce | AES-GCM ciphertext and 16-byte tag

At ProtocolVersion 2 (``DefaultLANConfig``) Go sends version 1 (no padding) and accepts
0 (the plaintext PKCS#7-padded to 16 bytes before sealing) and 1. The nonce is random for
each message, as Go draws it. The associated data of a packet is its label (none: empty);
a TCP stream message is framed (``net.go`` ``encryptLocalState``) as::

    encrypt(10) | u32 length of the envelope | envelope

with those first five bytes (then the label) as associated data, so a packet cannot be
replayed as a stream. There is no replay window, as in memberlist: a replayed ack hides a
failure for at most one probe, and incarnation numbers make replayed state stale.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from metallb.codec.memberlist import DropReason, MsgType, WireError
from metallb.codec.memberlist.packet import MAX_STREAM

VERSION = 1  # what Go sends at ProtocolVersion >= 2
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = 1 + NONCE_LEN + TAG_LEN  # encryptOverhead(1) = 29
STREAM_HEADER = 5  # encrypt type byte + u32 length


def derive_key(secret: bytes) -> bytes:
    """The AES key from the Secret's ``secretkey`` value (bytes as stored), as upstream."""
    if not secret:
        raise ValueError("the memberlist secret is empty")
    return (secret + hashlib.sha256(b"").digest())[:32]


class Cipher:
    """Seals and opens packets and stream messages with the cluster key."""

    def __init__(self, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("a memberlist key is 16, 24 or 32 bytes (use derive_key)")
        self._aead = AESGCM(key)

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_LEN)
        return bytes([VERSION]) + nonce + self._aead.encrypt(nonce, plaintext, aad or None)

    def _open(self, data: bytes, aad: bytes) -> bytes:
        if not data:
            raise WireError("empty encrypted payload", DropReason.AUTH)
        version = data[0]
        if version > VERSION:
            raise WireError(f"encryption version {version}", DropReason.VERSION)
        # Version 0 pads to a whole block: at least one block of plaintext.
        if len(data) < OVERHEAD + (16 if version == 0 else 0):
            raise WireError("shorter than the envelope", DropReason.AUTH)
        nonce = data[1 : 1 + NONCE_LEN]
        try:
            plain = self._aead.decrypt(nonce, data[1 + NONCE_LEN :], aad or None)
        except InvalidTag as exc:
            raise WireError("authentication failed (wrong key?)", DropReason.AUTH) from exc
        if version == 0:
            pad = plain[-1] if plain else 0
            if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
                raise WireError("bad PKCS#7 padding")
            plain = plain[:-pad]
        return plain

    def seal_packet(self, plaintext: bytes) -> bytes:
        """Encrypt one UDP payload (no label: no associated data)."""
        return self._seal(plaintext, b"")

    def open_packet(self, data: bytes) -> bytes:
        """Authenticate and decrypt one UDP payload; raises only :class:`WireError`."""
        return self._open(data, b"")

    def seal_stream(self, plaintext: bytes) -> bytes:
        """One stream message: ``encrypt | u32 length | envelope``."""
        header = bytes([MsgType.ENCRYPT]) + (len(plaintext) + OVERHEAD).to_bytes(4)
        return header + self._seal(plaintext, header)

    def open_stream(self, frame: bytes) -> bytes:
        """Authenticate and decrypt one whole stream frame (header included)."""
        size = stream_length(frame[:STREAM_HEADER])
        if len(frame) != STREAM_HEADER + size:
            raise WireError("stream frame length mismatch", DropReason.AUTH)
        return self._open(frame[STREAM_HEADER:], frame[:STREAM_HEADER])


def stream_length(header: bytes) -> int:
    """The envelope length announced by a stream's first five bytes (after any label).

    Raises :class:`WireError` with reason AUTH (nothing is authenticated yet): for an
    unencrypted stream (Go's default GossipVerifyIncoming refuses those too), a truncated
    header or a length over Go's limit.
    """
    if not header or header[0] != MsgType.ENCRYPT:
        raise WireError("unencrypted stream", DropReason.AUTH)
    if len(header) < STREAM_HEADER:
        raise WireError("truncated stream header", DropReason.AUTH)
    size = int.from_bytes(header[1:STREAM_HEADER])
    if size > MAX_STREAM:
        raise WireError(f"stream of {size} bytes is over the limit", DropReason.AUTH)
    return size
