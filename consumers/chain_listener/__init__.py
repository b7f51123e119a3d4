"""The chain listener: contracts named on the compacted ``ixo.chain.watches`` followed on the
EVM chain, their logs published as ``ixo.chain.log.observed.v1`` on ``ixo.chain.logs``.

- :class:`ChainListener` (pure core over Protocols): folds watch events, follows each watch
  with a :class:`WatchFollower` that polls ``eth_getLogs`` behind the confirmation depth over an
  :class:`AdaptiveRange`, publishes with deterministic ids, then advances its checkpoint;
  reorgs found by block hashes in the window are retracted with ``removed=true``.
- :class:`LogDecoder`: logs decoded with an ABI into JSON-safe arguments.
- Adapters: :class:`HttpRpc` (JSON-RPC), :class:`RedisCheckpoints`, :class:`KafkaWatchFeed`,
  :class:`KafkaBatchSink`, :class:`ContractAbis`; ``app.run_chain_listener`` wires them
  (``ixo run chain-listener``).
"""

from consumers.chain_listener._abi import LogDecoder
from consumers.chain_listener._artifacts import ContractAbis
from consumers.chain_listener._errors import AbiUnavailable, RangeRefused, RpcError
from consumers.chain_listener._events import SOURCE, log_event_id, observed, retraction, wrap
from consumers.chain_listener._follower import LeaseLost, StepResult, WatchFollower
from consumers.chain_listener._kafka import KafkaBatchSink, KafkaWatchFeed
from consumers.chain_listener._listener import ChainListener, ListenerConfig
from consumers.chain_listener._ranges import AdaptiveRange, is_range_refusal
from consumers.chain_listener._redis import RedisCheckpoints
from consumers.chain_listener._rpc import HttpRpc
from consumers.chain_listener._types import (
    AbiSource,
    BlockHeader,
    ChainRpc,
    Checkpoints,
    LogSink,
    RawLog,
    WatchState,
)
from consumers.chain_listener._watches import Watch, WatchBook
from contracts import redacted

__all__ = [
    "SOURCE",
    "AbiSource",
    "AbiUnavailable",
    "AdaptiveRange",
    "BlockHeader",
    "ChainListener",
    "ChainRpc",
    "Checkpoints",
    "ContractAbis",
    "HttpRpc",
    "KafkaBatchSink",
    "KafkaWatchFeed",
    "LeaseLost",
    "ListenerConfig",
    "LogDecoder",
    "LogSink",
    "RangeRefused",
    "RawLog",
    "RedisCheckpoints",
    "RpcError",
    "StepResult",
    "Watch",
    "WatchBook",
    "WatchFollower",
    "WatchState",
    "is_range_refusal",
    "log_event_id",
    "observed",
    "redacted",
    "retraction",
    "wrap",
]
