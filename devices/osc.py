"""OSC 1.0 messages: the one encoder and decoder of every OSC device in councild.

The X32/X-Air desks (devices/x32.py, and their simulator) and the OSC control input
(devices/osc_control.py: Companion and other button surfaces) both speak OSC over UDP, one
message per datagram, no bundles. This module turns one message into bytes and one datagram
into a message; what an address means is each codec's business.

Written here rather than taken from python-osc (a dependency, and the independent
implementation the tests check this one against) because python-osc does not serve the desk:
it cannot write a bare address without a type tag string (the X32's GET), writes -2**31 as
an int64 and refuses empty blobs, and reads without checking padding, trailing bytes or the
UTF-8 of strings, which the desk's golden vectors need rejected.

Types: `i` int32, `f` float32, `s` string, `b` blob (the desk's /meters) both ways; a decoded
message may also hold `T`/`F` (bool), `h` int64 and `d` float64, which control surfaces
send. Booleans are never encoded: the desk ignores `T`/`F`, so passing one is our bug.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from councild.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ALL_TYPES",
    "MAX_DATAGRAM",
    "OscArg",
    "OscLocalError",
    "OscMessage",
    "OscRemoteError",
    "decode_message",
    "encode_message",
    "is_bundle",
]

# The largest datagram decode_message reads unless told otherwise: far above any message
# either peer sends (the desk's /meters/1 is 408 bytes).
MAX_DATAGRAM: Final = 4096

OscArg = int | float | str | bytes

_INT = struct.Struct(">i")
_FLOAT = struct.Struct(">f")
_INT64 = struct.Struct(">q")
_DOUBLE = struct.Struct(">d")
_BUNDLE = b"#bundle\0"


class OscRemoteError(RemoteProtocolError):
    """Bytes that are not one valid OSC message."""


class OscLocalError(LocalProtocolError):
    """We were asked to encode something OSC (or the desk) cannot carry."""


@dataclass(frozen=True, slots=True)
class OscMessage:
    address: str
    args: tuple[OscArg, ...] = ()

    @property
    def tags(self) -> str:
        """The type tags (without the comma) these arguments are written with."""
        return "".join(("T" if a else "F") if isinstance(a, bool) else _tag_of(a)
                       for a in self.args)


def _tag_of(arg: OscArg) -> str:
    # bool is an int subclass: python-osc would send it as T/F, which the desk ignores.
    if isinstance(arg, bool):
        raise OscLocalError("OSC booleans are not understood by the desk: pass 0 or 1")
    if isinstance(arg, int):
        return "i"
    if isinstance(arg, float):
        return "f"
    if isinstance(arg, str):
        return "s"
    if isinstance(arg, bytes | bytearray):
        return "b"
    raise OscLocalError(f"cannot encode {type(arg).__name__} as an OSC argument")


def _pad(raw: bytes) -> bytes:
    """OSC string: the bytes, at least one NUL, padded to a multiple of 4."""
    return raw + b"\0" * (4 - len(raw) % 4)


def _osc_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    if b"\0" in raw:
        raise OscLocalError("OSC strings cannot contain NUL")
    return _pad(raw)


def encode_message(address: str, *args: OscArg) -> bytes:
    """One OSC message. A GET is `encode_message(address)`: the bare address, no type tags."""
    if not address.startswith("/"):
        raise OscLocalError(f"OSC address must start with '/': {address!r}")
    parts = [_osc_string(address)]
    if not args:
        return parts[0]
    tags = "".join(_tag_of(a) for a in args)
    parts.append(_pad(b"," + tags.encode("ascii")))
    for tag, arg in zip(tags, args, strict=True):
        try:
            if tag == "i":
                parts.append(_INT.pack(arg))  # type: ignore[arg-type]
            elif tag == "f":
                parts.append(_FLOAT.pack(arg))  # type: ignore[arg-type]
            elif tag == "s":
                parts.append(_osc_string(arg))  # type: ignore[arg-type]
            else:
                blob = bytes(arg)  # type: ignore[arg-type]
                parts.append(_INT.pack(len(blob)) + blob + b"\0" * (-len(blob) % 4))
        except (struct.error, OverflowError) as exc:
            raise OscLocalError(f"{address}: argument {arg!r} out of range") from exc
    return b"".join(parts)


def is_bundle(data: bytes) -> bool:
    return data.startswith(_BUNDLE)


def _read_string(data: bytes, pos: int, what: str) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise OscRemoteError(f"{what}: missing NUL terminator")
    nxt = end + 4 - (end - pos) % 4
    if nxt > len(data) or data[end:nxt].strip(b"\0"):
        raise OscRemoteError(f"{what}: bad padding")
    try:
        return data[pos:end].decode("utf-8"), nxt
    except UnicodeDecodeError as exc:
        raise OscRemoteError(f"{what}: not UTF-8") from exc


_FIXED: Final = {"i": _INT, "f": _FLOAT, "h": _INT64, "d": _DOUBLE}
_FLAGS: Final = {"T": True, "F": False}


ALL_TYPES: Final = "ifsbTFhd"


def decode_message(data: bytes, limit: int = MAX_DATAGRAM, types: str = ALL_TYPES) -> OscMessage:
    """Parse one OSC message of at most `limit` bytes, with arguments of the type tags in
    `types` only; anything else raises OscRemoteError."""
    if len(data) > limit:
        raise OscRemoteError(f"datagram of {len(data)} bytes exceeds {limit}")
    if len(data) < 4 or len(data) % 4:
        raise OscRemoteError(f"OSC packet length {len(data)} is not a positive multiple of 4")
    if data[0:1] != b"/":
        what = "bundle" if is_bundle(data) else "packet"
        raise OscRemoteError(f"not an OSC message ({what} does not start with '/')")
    address, pos = _read_string(data, 0, "address")
    if pos == len(data):
        return OscMessage(address)  # a GET: bare address, no type tag string
    tags, pos = _read_string(data, pos, "type tags")
    if not tags.startswith(","):
        raise OscRemoteError("type tag string does not start with ','")
    args: list[OscArg] = []
    for tag in tags[1:]:
        if tag not in types:
            raise OscRemoteError(f"{address}: unsupported OSC type tag {tag!r}")
        fixed = _FIXED.get(tag)
        if fixed is not None:
            if pos + fixed.size > len(data):
                raise OscRemoteError(f"{address}: truncated ,{tag} argument")
            args.append(fixed.unpack_from(data, pos)[0])
            pos += fixed.size
        elif tag in _FLAGS:
            args.append(_FLAGS[tag])  # no bytes: the tag is the value
        elif tag == "s":
            text, pos = _read_string(data, pos, f"{address}: string argument")
            args.append(text)
        elif tag == "b":
            if pos + 4 > len(data):
                raise OscRemoteError(f"{address}: truncated blob size")
            size = _INT.unpack_from(data, pos)[0]
            start = pos + 4
            end = start + size
            if size < 0 or end > len(data):
                raise OscRemoteError(f"{address}: blob size {size} out of range")
            args.append(data[start:end])
            pos = end + (-size % 4)
            if pos > len(data):
                raise OscRemoteError(f"{address}: blob padding missing")
        else:
            raise OscRemoteError(f"{address}: unsupported OSC type tag {tag!r}")
    if pos != len(data):
        raise OscRemoteError(f"{address}: {len(data) - pos} trailing bytes")
    return OscMessage(address, tuple(args))
