"""The strict subset of MessagePack that memberlist's Go encoder writes, and its decoder. Pure.

memberlist encodes every message with ``codec.MsgpackHandle{}`` of hashicorp/go-msgpack
v2 (``codec/msgpack.go``, ``codec/encode.go``), whose defaults fix the bytes:

* a struct is a map keyed by its field names, the fields sorted by name
  (``kStruct`` uses ``sfiSort``); ``omitempty`` fields that are zero are left out;
* ``WriteExt`` is false, so strings *and* byte slices are "raw" in the old spec:
  fixstr (< 32 bytes), then str16, str32 - never str8 nor bin; a nil slice is nil;
* unsigned integers (``uint16``, ``uint32``, ``uint8``) are a positive fixint, or the
  smallest of uint8/16/32/64; signed ones (Go ``int``) a fixint, or the smallest of
  int16/32/64 (``EncodeInt`` skips int8 for positive values);
* booleans are ``0xc2``/``0xc3``.

The decoder accepts what Go's decoder accepts for these types (any integer width, str,
bin or nil for a byte slice, unknown map keys skipped) but refuses floats and extension
types, which no memberlist message carries. It raises only :class:`WireError`.
"""

from __future__ import annotations

import struct

from metallb.codec.memberlist.errors import WireError

# A decoded value: maps keep Go's field names as text keys; raw and bin are bytes.
Value = int | bool | bytes | None | list["Value"] | dict[str, "Value"]

MAX_DEPTH = 8  # memberlist messages nest at most two levels


def uint(n: int) -> bytes:
    """An unsigned Go integer as go-msgpack's EncodeUint writes it."""
    if n < 0:
        raise ValueError(f"unsigned value {n} is negative")
    if n <= 0x7F:
        return bytes([n])
    if n <= 0xFF:
        return bytes([0xCC, n])
    if n <= 0xFFFF:
        return b"\xcd" + n.to_bytes(2)
    if n <= 0xFFFFFFFF:
        return b"\xce" + n.to_bytes(4)
    return b"\xcf" + n.to_bytes(8)


def sint(n: int) -> bytes:
    """A signed Go ``int`` as go-msgpack's EncodeInt writes it."""
    if 0x7F < n <= 0x7FFF:
        return b"\xd1" + n.to_bytes(2)
    if 0x7FFF < n <= 0x7FFFFFFF:
        return b"\xd2" + n.to_bytes(4)
    if n > 0x7FFFFFFF:
        return b"\xd3" + n.to_bytes(8)
    if n >= -32:
        return (n & 0xFF).to_bytes(1)
    if n >= -0x80:
        return b"\xd0" + (n & 0xFF).to_bytes(1)
    if n >= -0x8000:
        return b"\xd1" + (n & 0xFFFF).to_bytes(2)
    if n >= -0x80000000:
        return b"\xd2" + (n & 0xFFFFFFFF).to_bytes(4)
    return b"\xd3" + (n & (2**64 - 1)).to_bytes(8)


def raw(data: bytes | None) -> bytes:
    """A Go string or byte slice (``None``: a nil slice)."""
    if data is None:
        return b"\xc0"
    n = len(data)
    if n < 32:
        return bytes([0xA0 | n]) + data
    if n <= 0xFFFF:
        return b"\xda" + n.to_bytes(2) + data
    return b"\xdb" + n.to_bytes(4) + data


def text(s: str) -> bytes:
    return raw(s.encode())


def boolean(b: bool) -> bytes:
    return b"\xc3" if b else b"\xc2"


def struct_map(fields: list[tuple[str, bytes]]) -> bytes:
    """A Go struct: ``fields`` are (name, encoded value) pairs, omitted ones left out."""
    ordered = sorted(fields)
    n = len(ordered)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + n.to_bytes(2)
    return head + b"".join(text(k) + v for k, v in ordered)


_FIXED = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i"}
_FIXED |= {0xD3: ">q"}


class Reader:
    """Decodes consecutive values from ``data`` (a stream carries several in a row)."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise WireError(f"msgpack: truncated at byte {self.pos} (need {n})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    def _count(self, n: int) -> int:
        # Every element takes at least one byte: refuse counts the buffer cannot hold.
        if n > len(self.data) - self.pos:
            raise WireError(f"msgpack: {n} elements announced, buffer too short")
        return n

    def value(self, depth: int = 0) -> Value:
        if depth > MAX_DEPTH:
            raise WireError("msgpack: nested too deep")
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0xA0 <= b <= 0xBF:
            return self.take(b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return self._array(b & 0x0F, depth)
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        if b in _FIXED:
            fmt = _FIXED[b]
            return int(struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0])
        match b:
            case 0xC0:
                return None
            case 0xC2:
                return False
            case 0xC3:
                return True
            case 0xC4 | 0xD9:
                return self.take(self.take(1)[0])
            case 0xC5 | 0xDA:
                return self.take(int.from_bytes(self.take(2)))
            case 0xC6 | 0xDB:
                return self.take(int.from_bytes(self.take(4)))
            case 0xDC:
                return self._array(int.from_bytes(self.take(2)), depth)
            case 0xDD:
                return self._array(int.from_bytes(self.take(4)), depth)
            case 0xDE:
                return self._map(int.from_bytes(self.take(2)), depth)
            case 0xDF:
                return self._map(int.from_bytes(self.take(4)), depth)
        raise WireError(f"msgpack: type byte {b:#04x} is not used by memberlist")

    def _array(self, n: int, depth: int) -> list[Value]:
        return [self.value(depth + 1) for _ in range(self._count(n))]

    def _map(self, n: int, depth: int) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for _ in range(self._count(n)):
            key = self.value(depth + 1)
            if not isinstance(key, bytes):
                raise WireError("msgpack: a struct key is not a string")
            try:
                name = key.decode()
            except UnicodeDecodeError as exc:
                raise WireError("msgpack: a struct key is not UTF-8") from exc
            out[name] = self.value(depth + 1)
        return out

    def struct(self) -> Fields:
        v = self.value()
        if not isinstance(v, dict):
            raise WireError("msgpack: expected a struct (map)")
        return Fields(v)


class Fields:
    """Typed reads of a decoded struct's fields; a missing field is Go's zero value."""

    def __init__(self, values: dict[str, Value]) -> None:
        self._v = values

    def uint(self, name: str, bits: int) -> int:
        v = self._v.get(name, 0)
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 1 << bits:
            raise WireError(f"msgpack: field {name} is not a uint{bits}")
        return v

    def sint(self, name: str) -> int:
        v = self._v.get(name, 0)
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, int):
            raise WireError(f"msgpack: field {name} is not an integer")
        return v

    def boolean(self, name: str) -> bool:
        v = self._v.get(name, False)
        if v is None:
            return False
        if not isinstance(v, bool):
            raise WireError(f"msgpack: field {name} is not a boolean")
        return v

    def raw(self, name: str) -> bytes:
        v = self._v.get(name)
        if v is None:
            return b""
        if isinstance(v, list):  # go-msgpack also reads a []uint8 sent as an array
            if not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 256 for x in v):
                raise WireError(f"msgpack: field {name} is not bytes")
            return bytes(v)  # type: ignore[arg-type]
        if not isinstance(v, bytes):
            raise WireError(f"msgpack: field {name} is not bytes")
        return v

    def text(self, name: str) -> str:
        try:
            return self.raw(name).decode()
        except UnicodeDecodeError as exc:
            raise WireError(f"msgpack: field {name} is not UTF-8") from exc
