"""Decode logs with a contract's ABI (eth-abi), into JSON-safe arguments.

Each event of the ABI is compiled once into a decoder: its topic (the signature's keccak), the
types of its indexed and non-indexed inputs, and converters from eth-abi's Python values to
JSON values whose type depends only on the ABI type (so a field never changes type between
logs): integers of up to 32 bits are JSON numbers, wider ones decimal strings (JavaScript loses
digits above 2**53); addresses checksummed; ``bytes``/``bytesN`` 0x hex; tuples objects by
component name; fixed-point decimals strings. An indexed dynamic value (string, bytes, array,
tuple) is only its keccak on the chain: it is given as that topic.

A log no event of the ABI decodes (another contract's event through a proxy, a wrong ABI, bytes
that do not parse) is not an error: :meth:`LogDecoder.decode` returns None and the listener
publishes it undecoded with its raw topics and data (decision 0144).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic
from eth_utils.address import to_checksum_address

from consumers.chain_listener._errors import AbiUnavailable
from consumers.chain_listener._types import RawLog

Convert = Callable[[Any], Any]

_INT = re.compile(r"^(u?)int(\d*)$")
_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")
_SMALL_INT_BITS = 32


def _identity(value: Any) -> Any:
    return value


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


@functools.lru_cache(maxsize=4096)
def _address(value: str) -> str:
    """Checksummed (a keccak each: cached, the same senders and tokens recur)."""
    return str(to_checksum_address(value))


def _decimal_text(value: Any) -> str:
    return str(value)


def _converter(param: dict[str, Any]) -> Convert:  # noqa: PLR0911 - one return per ABI type
    """How one ABI parameter's decoded value becomes JSON."""
    kind = str(param.get("type", ""))
    array = _ARRAY.match(kind)
    if array is not None:
        inner = _converter({**param, "type": array.group(1)})
        return lambda values: [inner(v) for v in values]
    if kind == "tuple":
        components = list(param.get("components") or [])
        converters = [_converter(c) for c in components]
        names = [str(c.get("name") or "") for c in components]
        if all(names) and len(set(names)) == len(names):
            return lambda values: {
                n: f(v) for n, f, v in zip(names, converters, values, strict=True)
            }
        return lambda values: [f(v) for f, v in zip(converters, values, strict=True)]
    found = _INT.match(kind)
    if found is not None:
        bits = int(found.group(2) or 256)
        return _identity if bits <= _SMALL_INT_BITS else _decimal_text
    if kind == "address":
        return _address
    if kind == "bytes" or kind.startswith("bytes"):
        return _hex
    if kind.startswith(("fixed", "ufixed")):
        return _decimal_text
    return _identity  # bool, string


Reader = Callable[[bytes, int], Any]
"""Reads the value of head slot ``index`` of ABI-encoded ``data``, as JSON."""

_WORD = 32


def _word(data: bytes, index: int) -> bytes:
    start = index * _WORD
    word = data[start : start + _WORD]
    if len(word) != _WORD:
        msg = "the data is shorter than the event's inputs"
        raise DecodingError(msg)
    return word


def _uint_reader(bits: int, convert: Convert) -> Reader:
    limit = 1 << bits

    def read(data: bytes, index: int) -> Any:
        value = int.from_bytes(_word(data, index), "big")
        if value >= limit:
            msg = f"a uint{bits} out of range"
            raise DecodingError(msg)
        return convert(value)

    return read


def _int_reader(bits: int, convert: Convert) -> Reader:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def read(data: bytes, index: int) -> Any:
        value = int.from_bytes(_word(data, index), "big", signed=True)
        if not low <= value < high:
            msg = f"an int{bits} out of range"
            raise DecodingError(msg)
        return convert(value)

    return read


def _read_address(data: bytes, index: int) -> str:
    word = _word(data, index)
    if any(word[:12]):
        msg = "an address with dirty high bytes"
        raise DecodingError(msg)
    return _address("0x" + word[12:].hex())


def _read_bool(data: bytes, index: int) -> bool:
    value = int.from_bytes(_word(data, index), "big")
    if value > 1:
        msg = "a bool that is neither 0 nor 1"
        raise DecodingError(msg)
    return value == 1


def _fixed_bytes_reader(size: int) -> Reader:
    def read(data: bytes, index: int) -> str:
        word = _word(data, index)
        if any(word[size:]):
            msg = f"a bytes{size} with dirty low bytes"
            raise DecodingError(msg)
        return "0x" + word[:size].hex()

    return read


def _dynamic(data: bytes, index: int) -> bytes:
    offset = int.from_bytes(_word(data, index), "big")
    if offset % _WORD or offset + _WORD > len(data):
        msg = "a dynamic value's offset is out of the data"
        raise DecodingError(msg)
    length = int.from_bytes(data[offset : offset + _WORD], "big")
    end = offset + _WORD + length
    if end > len(data):
        msg = "a dynamic value runs past the data"
        raise DecodingError(msg)
    return data[offset + _WORD : end]


def _read_string(data: bytes, index: int) -> str:
    return _dynamic(data, index).decode("utf-8")  # invalid UTF-8: undecodable (ValueError)


def _read_bytes(data: bytes, index: int) -> str:
    return "0x" + _dynamic(data, index).hex()


def _fast_reader(param: dict[str, Any]) -> Reader | None:  # noqa: PLR0911 - one per type
    """A reader for the types most events use (ints, addresses, bools, bytesN, string, bytes);
    None for the rest (arrays, tuples, fixed point), which eth-abi decodes."""
    kind = str(param.get("type", ""))
    found = _INT.match(kind)
    if found is not None:
        bits = int(found.group(2) or 256)
        convert = _identity if bits <= _SMALL_INT_BITS else _decimal_text
        return _uint_reader(bits, convert) if found.group(1) else _int_reader(bits, convert)
    if kind == "address":
        return _read_address
    if kind == "bool":
        return _read_bool
    if kind == "string":
        return _read_string
    if kind == "bytes":
        return _read_bytes
    if kind.startswith("bytes") and kind[5:].isdigit() and 1 <= int(kind[5:]) <= _WORD:
        return _fixed_bytes_reader(int(kind[5:]))
    return None


def _is_dynamic(param: dict[str, Any]) -> bool:
    kind = str(param.get("type", ""))
    return kind in ("string", "bytes") or kind.startswith("tuple") or kind.endswith("]")


@dataclass(frozen=True)
class _Event:
    name: str
    topic: str | None
    """``0x`` + the signature's keccak; None for an anonymous event."""
    indexed: tuple[tuple[str, str, Convert, bool], ...]
    """(name, type, converter, dynamic) of each indexed input, in order."""
    body_names: tuple[str, ...]
    body_types: tuple[str, ...]
    body_converters: tuple[Convert, ...]
    order: tuple[str, ...]
    """Every input's name, in the ABI's order (the order of ``args``)."""
    fast: tuple[tuple[Reader, ...], tuple[Reader, ...]] | None
    """Readers of the indexed (static ones) and the data inputs, when every type has one."""

    def decode(self, log: RawLog) -> dict[str, Any]:
        if self.fast is None:
            return self._decode_eth_abi(log)
        topics = log.topics[0 if self.topic is None else 1 :]
        if len(topics) != len(self.indexed):
            msg = "the log's topics do not match the event's indexed inputs"
            raise DecodingError(msg)
        found: dict[str, Any] = {}
        topic_readers, body_readers = self.fast
        for (name, _, _, dynamic), read, topic in zip(
            self.indexed, topic_readers, topics, strict=True
        ):
            found[name] = topic if dynamic else read(bytes.fromhex(topic[2:]), 0)
        data = bytes.fromhex(log.data[2:])
        if not body_readers and data:
            msg = "the event has no data but the log has some"
            raise DecodingError(msg)
        for index, (name, read) in enumerate(zip(self.body_names, body_readers, strict=True)):
            found[name] = read(data, index)
        return {name: found[name] for name in self.order}

    def _decode_eth_abi(self, log: RawLog) -> dict[str, Any]:
        topics = log.topics[0 if self.topic is None else 1 :]
        if len(topics) != len(self.indexed):
            msg = "the log's topics do not match the event's indexed inputs"
            raise DecodingError(msg)
        found: dict[str, Any] = {}
        for (name, kind, convert, dynamic), topic in zip(self.indexed, topics, strict=True):
            if dynamic:
                found[name] = topic  # only the keccak of the value is on the chain
            else:
                (value,) = abi_decode([kind], bytes.fromhex(topic[2:]))
                found[name] = convert(value)
        if self.body_types:
            values = abi_decode(self.body_types, bytes.fromhex(log.data[2:]))
            for name, convert, value in zip(
                self.body_names, self.body_converters, values, strict=True
            ):
                found[name] = convert(value)
        elif len(log.data) > 2:
            msg = "the event has no data but the log has some"
            raise DecodingError(msg)
        return {name: found[name] for name in self.order}


def _compile_event(item: dict[str, Any]) -> _Event:
    inputs = [dict(i) for i in item.get("inputs") or []]
    names = [str(i.get("name") or f"arg{n}") for n, i in enumerate(inputs)]
    indexed = tuple(
        (names[n], collapse_if_tuple(i), _converter(i), _is_dynamic(i))
        for n, i in enumerate(inputs)
        if i.get("indexed")
    )
    body = [(names[n], i) for n, i in enumerate(inputs) if not i.get("indexed")]
    topic_readers = [
        _read_bytes if _is_dynamic(i) else _fast_reader(i) for i in inputs if i.get("indexed")
    ]
    body_readers = [_fast_reader(i) for _, i in body]
    readers = [*topic_readers, *body_readers]
    fast = (
        (tuple(topic_readers), tuple(body_readers)) if all(r is not None for r in readers) else None
    )
    anonymous = bool(item.get("anonymous"))
    topic = None if anonymous else "0x" + event_abi_to_log_topic(item).hex()  # type: ignore[arg-type]
    return _Event(
        name=str(item["name"]),
        topic=topic,
        indexed=indexed,
        body_names=tuple(n for n, _ in body),
        body_types=tuple(collapse_if_tuple(i) for _, i in body),
        body_converters=tuple(_converter(i) for _, i in body),
        order=tuple(names),
        fast=fast,  # type: ignore[arg-type]
    )


class LogDecoder:
    """The events of one ABI, by topic. An empty ABI decodes nothing."""

    def __init__(self, abi: Sequence[dict[str, Any]]) -> None:
        if not isinstance(abi, Sequence) or isinstance(abi, str | bytes):
            msg = "an ABI is a JSON list of items"
            raise AbiUnavailable(msg)
        by_topic: dict[str, _Event] = {}
        anonymous: list[_Event] = []
        for item in abi:
            if not isinstance(item, dict):
                msg = f"an ABI item is a JSON object, not {type(item).__name__}"
                raise AbiUnavailable(msg)
            if item.get("type") != "event":
                continue
            if not isinstance(item.get("name"), str) or not item["name"]:
                msg = "an ABI event has no name"
                raise AbiUnavailable(msg)
            try:
                event = _compile_event(item)
            except (KeyError, TypeError, ValueError) as exc:
                msg = f"the ABI event {item['name']!r} is not valid: {exc}"
                raise AbiUnavailable(msg) from None
            if event.topic is None:
                anonymous.append(event)
            else:
                by_topic[event.topic] = event
        self._by_topic = by_topic
        self._anonymous = tuple(anonymous)

    @property
    def events(self) -> list[str]:
        return sorted({e.name for e in (*self._by_topic.values(), *self._anonymous)})

    def decode(self, log: RawLog) -> tuple[str, dict[str, Any]] | None:
        """The event's name and arguments, or None when no event of the ABI decodes ``log``."""
        candidates: list[_Event] = []
        if log.topics:
            known = self._by_topic.get(log.topics[0])
            if known is not None:
                candidates.append(known)
        candidates.extend(self._anonymous)
        for event in candidates:
            try:
                return event.name, event.decode(log)
            except (DecodingError, ValueError, TypeError, OverflowError):
                continue
        return None
