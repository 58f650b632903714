"""Reading the protobuf wire format: just enough for BuildKit's status messages.

A message is a run of fields, each a key (``field_number << 3 | wire_type``, a varint) and a
value: wire type 0 a varint, 1 eight bytes, 2 a length-prefixed run of bytes (strings, bytes,
embedded messages, packed repeated scalars), 5 four bytes. Types 3 and 4 (groups) are not used
by proto3 and are refused. Unknown fields are skipped by their wire type, so messages from a
newer BuildKit that adds fields still read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class WireField:
    number: int
    wire_type: int
    value: int | bytes  # an int for varints and fixed fields, bytes for length-delimited ones

    @property
    def data(self) -> bytes:
        """The bytes of a length-delimited field (empty for any other kind)."""
        return self.value if isinstance(self.value, bytes) else b""

    @property
    def number_value(self) -> int:
        """The integer of a varint or fixed field (0 for a length-delimited one)."""
        return self.value if isinstance(self.value, int) else 0

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    @property
    def signed(self) -> int:
        """A varint read as ``int64`` (two's complement over 64 bits)."""
        value = self.number_value
        return value - (1 << 64) if value >= 1 << 63 else value


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    result = 0
    for index in range(_MAX_VARINT_BYTES):
        if position >= len(data):
            raise WireError("a varint runs past the end of the message")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return result, position
    raise WireError("a varint is longer than 10 bytes")


def _take(data: bytes, position: int, size: int) -> tuple[bytes, int]:
    end = position + size
    if end > len(data):
        raise WireError("a field runs past the end of the message")
    return data[position:end], end


def iter_fields(data: bytes) -> Iterator[WireField]:
    """Every field of one message, in the order written."""
    position = 0
    while position < len(data):
        key, position = read_varint(data, position)
        number, wire_type = key >> 3, key & 0x7
        if number == 0:
            raise WireError("field number 0 is not allowed")
        value: int | bytes
        if wire_type == VARINT:
            value, position = read_varint(data, position)
        elif wire_type == FIXED64:
            raw, position = _take(data, position, 8)
            value = int.from_bytes(raw, "little")
        elif wire_type == FIXED32:
            raw, position = _take(data, position, 4)
            value = int.from_bytes(raw, "little")
        elif wire_type == LENGTH:
            size, position = read_varint(data, position)
            value, position = _take(data, position, size)
        else:
            raise WireError(f"wire type {wire_type} (field {number}) is not supported")
        yield WireField(number, wire_type, value)
