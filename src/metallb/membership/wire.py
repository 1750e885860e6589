"""Membership packets and streams as hashicorp/memberlist v0.5.1 puts them on the wire. Pure.

Our speakers speak memberlist's protocol so that they and upstream MetalLB speakers
(``internal/speakerlist/speakerlist.go``: ``memberlist.DefaultLANConfig()``, a
``SecretKey``, no label, no delegate) form one membership. The layers, outermost first:

* UDP packet (``net.go`` ``ingestPacket``): no label header; the encryption envelope
  (:mod:`.crypto`); optionally ``hasCrc`` and a CRC-32, which we add for members whose
  protocol maximum is 5 or more, as memberlist does; then one message, or a ``compound``
  of up to 255, or a ``compress`` (LZW) holding either. The first message is the protocol
  message (ping, indirect ping, ack, nack); the rest are piggybacked gossip (alive,
  suspect, dead) filling the packet up to ``MembershipConfig.max_packet`` bytes.
* TCP stream (``net.go`` ``handleConn``, ``sendAndReceiveState``,
  ``sendPingAndWaitForAck``): one message each way per connection: a push-pull (header,
  node states, user state) answered by ours, or a ping answered by an ack. Each is
  ``encrypt | u32 length | envelope``, the plaintext optionally compressed (Go always
  compresses streams; we compress push-pulls, not acks).

The message structs and their msgpack encoding are :mod:`metallb.codec.memberlist`'s.

Where we differ from memberlist, on purpose: we send UDP packets uncompressed (Go
compresses when smaller; it reads both); a packet with one undecodable part is dropped
whole (Go handles the parts it can); we never send a TCP fallback ping (we answer Go's);
we always encrypt (a speaker without the Secret uses a fixed public key, so it does not
join upstream speakers that run without one); there is no keyring rotation, no Lifeguard
awareness (nacks are read and ignored) and no suspicion confirmations: our timers are
fixed and fast (:mod:`.config`).
:meth:`Wire.open_packet` and :meth:`Wire.open_stream` raise only :class:`WireError`,
whose ``reason`` the core counts; a label (another cluster's) counts as ``auth``.
"""

from __future__ import annotations

from metallb.codec.memberlist import (
    DropReason,
    Message,
    PushPull,
    WireError,
    decode_packet,
    decode_stream,
    encode_packet,
    encode_stream,
    strip_label,
)
from metallb.membership.crypto import OVERHEAD, Cipher

__all__ = ["OVERHEAD", "DropReason", "Wire", "WireError"]


class Wire:
    """Seals and opens memberlist packets and stream messages with the cluster key."""

    def __init__(self, key: bytes) -> None:
        self._cipher = Cipher(key)

    def seal_packet(self, parts: list[bytes], *, crc: bool) -> bytes:
        """One UDP payload of encoded messages (compound if several)."""
        return self._cipher.seal_packet(encode_packet(parts, crc=crc))

    def open_packet(self, data: bytes) -> list[Message]:
        return decode_packet(self._cipher.open_packet(_unlabelled(data)))

    def seal_stream(self, message: Message) -> bytes:
        return self._cipher.seal_stream(
            encode_stream(message, compress=isinstance(message, PushPull))
        )

    def open_stream(self, data: bytes) -> Message:
        return decode_stream(self._cipher.open_stream(_unlabelled(data)))


def _unlabelled(data: bytes) -> bytes:
    label, rest = strip_label(data)
    if label:
        raise WireError(f"labelled {label!r}: another cluster", DropReason.AUTH)
    return rest
