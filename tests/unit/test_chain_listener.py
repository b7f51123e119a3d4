"""The chain listener's pure parts: decoding logs with an ABI (the fast readers agree with
eth-abi), recognising a provider's range refusal, the adaptive range, event ids, the watch
fold, the payloads of observed and retracted logs."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address

from consumers.chain_listener import (
    AbiUnavailable,
    AdaptiveRange,
    LogDecoder,
    RawLog,
    WatchBook,
    is_range_refusal,
    log_event_id,
    observed,
    redacted,
    retraction,
    wrap,
)
from consumers.chain_listener._abi import _compile_event
from schemas import ChainWatchAddedV1, ChainWatchRemovedV1

ADDRESS = "0x" + "ab" * 20
SENDER = "0x" + "cd" * 20
HASH = "0x" + "11" * 32


def event(name: str, *inputs: tuple[str, str, bool], anonymous: bool = False) -> dict[str, Any]:
    return {
        "type": "event",
        "name": name,
        "anonymous": anonymous,
        "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs],
    }


def topic_of(item: dict[str, Any]) -> str:
    return "0x" + event_abi_to_log_topic(item).hex()  # type: ignore[arg-type]


def word(value: bytes) -> str:
    return "0x" + value.hex()


def raw(topics: list[str], data: bytes = b"", *, index: int = 0) -> RawLog:
    return RawLog(
        address=ADDRESS,
        block_number=7,
        block_hash=HASH,
        tx_hash="0x" + "22" * 32,
        log_index=index,
        topics=tuple(topics),
        data="0x" + data.hex(),
        transaction_index=0,
        block_timestamp=1_700_000_000,
    )


PING = event(
    "Ping",
    ("seq", "uint256", True),
    ("from", "address", True),
    ("value", "uint256", False),
    ("note", "string", False),
)


def test_a_log_decodes_with_json_safe_arguments() -> None:
    data = encode(["uint256", "string"], [10**18, "héllo"])
    log = raw(
        [topic_of(PING), word(encode(["uint256"], [5])), word(encode(["address"], [SENDER]))], data
    )
    assert LogDecoder([PING]).decode(log) == (
        "Ping",
        {"seq": "5", "from": to_checksum_address(SENDER), "value": str(10**18), "note": "héllo"},
    )


TYPES: list[tuple[str, Any]] = [
    ("uint8", 255),
    ("uint32", 2**32 - 1),
    ("uint64", 2**64 - 1),
    ("int8", -128),
    ("int256", -(2**255)),
    ("int24", -5),
    ("bool", True),
    ("address", SENDER),
    ("bytes32", b"\x01" * 32),
    ("bytes4", b"\xde\xad\xbe\xef"),
    ("bytes", b"\x00\xff" * 40),
    ("string", ""),
    ("string", "a longer string that spans more than one ABI word of 32 bytes"),
]


@pytest.mark.parametrize(("kind", "value"), TYPES)
def test_the_fast_readers_agree_with_eth_abi(kind: str, value: Any) -> None:
    item = event("E", ("a", kind, False), ("b", "uint16", False), ("c", kind, False))
    compiled = _compile_event(item)
    assert compiled.fast is not None
    log = raw([topic_of(item)], encode([kind, "uint16", kind], [value, 7, value]))
    assert compiled.decode(log) == compiled._decode_eth_abi(log)


def test_arrays_and_tuples_fall_back_to_eth_abi() -> None:
    item = {
        "type": "event",
        "name": "Batch",
        "anonymous": False,
        "inputs": [
            {"name": "ids", "type": "uint256[]", "indexed": False},
            {
                "name": "order",
                "type": "tuple",
                "indexed": False,
                "components": [
                    {"name": "maker", "type": "address"},
                    {"name": "amount", "type": "uint128"},
                    {"name": "small", "type": "uint16"},
                ],
            },
            {"name": "tag", "type": "string", "indexed": True},
        ],
    }
    assert _compile_event(item).fast is None
    data = encode(["uint256[]", "(address,uint128,uint16)"], [[1, 2], (SENDER, 3, 4)])
    log = raw([topic_of(item), "0x" + "99" * 32], data)
    assert LogDecoder([item]).decode(log) == (
        "Batch",
        {
            "ids": ["1", "2"],
            "order": {"maker": to_checksum_address(SENDER), "amount": "3", "small": 4},
            "tag": "0x" + "99" * 32,  # an indexed string is only its hash on the chain
        },
    )


@pytest.mark.parametrize(
    "log",
    [
        raw(["0x" + "00" * 32]),  # an event the ABI does not declare
        raw([]),  # no topic at all
        raw([topic_of(PING), word(encode(["uint256"], [1]))], encode(["uint256"], [1])),
        raw(  # a string that is not UTF-8
            [topic_of(PING), word(encode(["uint256"], [1])), word(encode(["address"], [SENDER]))],
            encode(["uint256", "bytes"], [1, b"\xff\xfe"]),
        ),
        raw(  # an address with dirty high bytes
            [topic_of(PING), word(encode(["uint256"], [1])), "0x" + "ff" * 32],
            encode(["uint256", "string"], [1, "x"]),
        ),
        raw(  # data cut short
            [topic_of(PING), word(encode(["uint256"], [1])), word(encode(["address"], [SENDER]))],
            encode(["uint256", "string"], [1, "x"])[:40],
        ),
    ],
)
def test_a_log_the_abi_cannot_decode_is_none(log: RawLog) -> None:
    assert LogDecoder([PING]).decode(log) is None


def test_an_undecodable_log_is_published_raw() -> None:
    log = raw(["0x" + "42" * 32, "0x" + "43" * 32], b"\x01\x02")
    payload = observed(31337, to_checksum_address(ADDRESS), log, LogDecoder([PING]))
    assert payload.event == "0x" + "42" * 32
    assert not payload.decoded
    assert payload.args == {}
    assert payload.topics == ["0x" + "42" * 32, "0x" + "43" * 32]
    assert payload.data == "0x0102"
    anonymous = observed(31337, to_checksum_address(ADDRESS), raw([]), None)
    assert anonymous.event == "anonymous"


def test_an_anonymous_event_decodes_by_its_indexed_count() -> None:
    item = event("Anon", ("who", "address", True), ("n", "uint8", False), anonymous=True)
    log = raw([word(encode(["address"], [SENDER]))], encode(["uint8"], [3]))
    assert LogDecoder([item]).decode(log) == ("Anon", {"who": to_checksum_address(SENDER), "n": 3})


@pytest.mark.parametrize(
    "abi",
    [{"type": "event"}, ["not an item"], [{"type": "event", "name": "X", "inputs": [{}]}]],
)
def test_an_invalid_abi_is_refused(abi: Any) -> None:
    with pytest.raises(AbiUnavailable):
        LogDecoder(abi)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (-32005, "query returned more than 10000 results"),
        (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K"),
        (-32614, "eth_getLogs is limited to a 10,000 range"),
        (-32000, "block range is too wide"),
        (-32000, "query exceeds max block range 100000"),
        (None, "block range greater than 10000 max"),
        (-32600, "block range too large: max 50 blocks"),
    ],
)
def test_providers_range_refusals_are_recognised(code: int | None, message: str) -> None:
    assert is_range_refusal(code, message)


@pytest.mark.parametrize(
    ("code", "message"),
    [(-32000, "header not found"), (3, "execution reverted"), (-32601, "method not found")],
)
def test_other_errors_are_not_refusals(code: int, message: str) -> None:
    assert not is_range_refusal(code, message)


def test_the_range_halves_on_refusal_and_grows_while_calls_are_cheap() -> None:
    ranges = AdaptiveRange(1000, max_logs=100)
    ranges.refused(1000)
    assert ranges.span == 500
    for _ in range(12):
        ranges.refused(ranges.span)
    assert ranges.span == 1  # never below one block
    ranges.served(1, logs=3, seconds=0.01)
    assert ranges.span == 2
    ranges.served(1, logs=3, seconds=0.01)  # a call shorter than the span (the head): no growth
    assert ranges.span == 2
    ranges.served(2, logs=3, seconds=5.0)  # slow: keep
    assert ranges.span == 2
    for _ in range(20):
        ranges.served(ranges.span, logs=0, seconds=0.01)
    assert ranges.span == 1000  # at most the maximum
    ranges.served(1000, logs=101, seconds=0.01)  # too many results: halve
    assert ranges.span == 500


def test_event_ids_are_deterministic_and_distinct_for_retractions_and_generations() -> None:
    first = log_event_id(1, HASH, 3)
    assert first == log_event_id(1, HASH.upper().replace("0X", "0x"), 3)
    others = {
        log_event_id(1, HASH, 3, removed=True),
        log_event_id(1, HASH, 3, generation=1),
        log_event_id(1, HASH, 3, removed=True, generation=1),
        log_event_id(1, HASH, 4),
        log_event_id(5, HASH, 3),
    }
    assert first not in others
    assert len(others) == 5


def test_a_retraction_is_the_stored_payload_with_removed() -> None:
    payload = observed(31337, to_checksum_address(ADDRESS), raw([]), None)
    gone = retraction(payload.model_dump_json())
    assert gone.removed
    assert gone.model_copy(update={"removed": False}) == payload
    assert wrap(gone, generation=0).id == log_event_id(31337, HASH, 0, removed=True)
    assert wrap(payload, generation=0).subject == to_checksum_address(ADDRESS)


def test_the_watch_book_folds_this_chains_watches() -> None:
    book = WatchBook(31337)
    added = book.apply(ChainWatchAddedV1(chain_id=31337, address=ADDRESS, artifact="X"))
    assert added is not None
    assert not isinstance(added, str)
    assert added.address == to_checksum_address(ADDRESS)
    assert book.apply(ChainWatchAddedV1(chain_id=1, address=ADDRESS)) is None  # another chain
    changed = book.apply(
        ChainWatchAddedV1(chain_id=31337, address="0x" + ADDRESS[2:].upper(), label="v2")
    )
    assert changed is not None
    assert not isinstance(changed, str)
    assert changed.label == "v2"
    assert list(book.watches) == [f"31337:{ADDRESS}"]
    assert book.apply(ChainWatchRemovedV1(chain_id=31337, address=ADDRESS)) == f"31337:{ADDRESS}"
    assert book.apply(ChainWatchRemovedV1(chain_id=31337, address=ADDRESS)) is None
    assert book.watches == {}


def test_rpc_urls_are_redacted_to_their_host() -> None:
    assert redacted("https://user:pw@eth.example.com/v2/SECRETKEY?x=1") == "https://eth.example.com"
    assert redacted("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
