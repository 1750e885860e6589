"""LZW as Go's ``compress/lzw`` writes it with ``LSB`` order and 8-bit literals. Pure.

memberlist compresses with ``lzw.NewWriter(buf, lzw.LSB, 8)`` (``compressPayload`` in
``util.go``): codes are packed least-significant bit first, start 9 bits wide with 256
the clear code and 257 end-of-data, widen after code ``2**width - 1`` is allocated, stop
at 12 bits (Go's writer then emits a clear code; its reader stops adding entries). The
writer opens with a clear code and closes with end-of-data; a stream without it is
truncated, which Go's reader reports as an error, and so do we.
"""

from __future__ import annotations

from metallb.codec.memberlist.errors import WireError

_CLEAR = 256
_EOF = 257
_MAX_WIDTH = 12
_MAX_CODE = (1 << _MAX_WIDTH) - 1


def decompress(data: bytes, limit: int) -> bytes:
    """The decompressed bytes; raises :class:`WireError` on a bad stream or past ``limit``."""
    table: list[bytes | None] = [bytes([i]) for i in range(256)] + [None] * (4096 - 256)
    out = bytearray()
    width, hi, overflow = 9, _EOF, 1 << 9
    last: int | None = None
    bits = n_bits = pos = 0
    while True:
        while n_bits < width:
            if pos >= len(data):
                raise WireError("lzw: stream ends before its end code")
            bits |= data[pos] << n_bits
            pos += 1
            n_bits += 8
        code = bits & ((1 << width) - 1)
        bits >>= width
        n_bits -= width
        if code == _CLEAR:
            width, hi, overflow, last = 9, _EOF, 1 << 9, None
            continue
        if code == _EOF:
            return bytes(out)
        if code < _CLEAR:
            entry = table[code]
        elif code == hi and last is not None:
            prev = table[last]
            assert prev is not None
            entry = prev + prev[:1]
        elif code <= hi:
            entry = table[code]
        else:
            raise WireError(f"lzw: code {code} beyond the table ({hi})")
        if entry is None:
            raise WireError(f"lzw: code {code} is not defined")
        out += entry
        if len(out) > limit:
            raise WireError(f"lzw: decompresses to more than {limit} bytes")
        if last is not None:
            prev = table[last]
            assert prev is not None
            table[hi] = prev + entry[:1]
        last, hi = code, hi + 1
        if hi >= overflow:
            if width == _MAX_WIDTH:
                last, hi = None, hi - 1
            else:
                width, overflow = width + 1, overflow << 1


def compress(data: bytes) -> bytes:
    """``data`` compressed as Go's writer would (same codes, same bits)."""
    out = bytearray()
    bits = n_bits = 0
    width, hi, overflow = 9, _EOF, 1 << 9
    table: dict[tuple[int, int], int] = {}

    def write(code: int) -> None:
        nonlocal bits, n_bits
        bits |= code << n_bits
        n_bits += width
        while n_bits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            n_bits -= 8

    def inc_hi() -> bool:
        """Allocate the next code; False when the table was full and has been cleared."""
        nonlocal width, hi, overflow
        hi += 1
        if hi == overflow:
            width, overflow = width + 1, overflow << 1
        if hi == _MAX_CODE:
            write(_CLEAR)
            width, hi, overflow = 9, _EOF, 1 << 9
            table.clear()
            return False
        return True

    write(_CLEAR)
    if data:
        code = data[0]
        for literal in data[1:]:
            known = table.get((code, literal))
            if known is not None:
                code = known
                continue
            write(code)
            if inc_hi():
                table[(code, literal)] = hi
            code = literal
        write(code)
        inc_hi()
    write(_EOF)
    if n_bits > 0:
        out.append(bits & 0xFF)
    return bytes(out)
