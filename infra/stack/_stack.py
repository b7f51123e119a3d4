"""`LocalStack`: Kafka, FerretDB, Redis and anvil as detached processes with data under a state
dir."""

from __future__ import annotations

import json
import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from infra.stack._anvil import AnvilService, ChainUnavailableError
from infra.stack._base import (
    Context,
    PortConflictError,
    Progress,
    Service,
    ServiceStatus,
    StackError,
    default_cache_dir,
)
from infra.stack._ferretdb import FerretDBService
from infra.stack._kafka import (
    MAVEN_MISSING,
    TANSU_MISSING,
    KafkaService,
    TansuService,
    cluster_replication,
    java_problem,
    tansu_binary,
)
from infra.stack._ports import LOOPBACK, StackPorts, listens_on, port_open
from infra.stack._process import (
    address_in_use,
    exit_cause,
    exit_code,
    file_lock,
    is_alive,
    read_pid,
    spawn,
    stop_all,
)
from infra.stack._redis import RedisService

logger = logging.getLogger(__name__)

KafkaImpl = Literal["auto", "kafka", "tansu"]
_STATE_FILE = "stack.json"
_STOP_TIMEOUT = 30.0
_POLL = 0.25
_PORT_ATTEMPTS = 3


class LocalStack:
    """The local stack of real services, run as processes that outlive the caller.

    Layout under `state_dir`: `kafka/`, `ferretdb/`, `redis/`, `anvil/` (data),
    `logs/<service>.log`, `run/<service>.pid` and `run/stack.json` (ports, Kafka implementation
    and whether the chain runs), so a fresh process finds a running stack again. The chain
    (anvil, `chain=True`) is optional: where node/npm are missing the stack runs without it.
    Installs are cached in `cache_dir` (default `$IXO_CACHE_DIR`, else `~/.cache/impressox`),
    shared by all state dirs.
    With `ports=None` the ports saved in `run/stack.json` are used, else the defaults.
    """

    kafka_impl_used: str

    def __init__(
        self,
        state_dir: Path,
        ports: StackPorts | None = None,
        *,
        kafka_impl: KafkaImpl = "auto",
        progress: Progress | None = None,
        cache_dir: Path | None = None,
        chain: bool = True,
        anvil_block_time_s: float | None = None,
        brokers: int | None = None,
    ) -> None:
        if kafka_impl not in ("auto", "kafka", "tansu"):
            msg = f"kafka_impl must be 'auto', 'kafka' or 'tansu', not {kafka_impl!r}"
            raise StackError(msg)
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.cache_dir = Path(cache_dir or default_cache_dir()).expanduser().resolve()
        saved = self._read_state()
        saved_ports = saved.get("ports")
        self._explicit_ports = ports is not None
        made = StackPorts.from_dict(saved_ports).brokers if isinstance(saved_ports, dict) else None
        if ports is not None:
            self.ports = ports
        elif isinstance(saved_ports, dict):
            self.ports = StackPorts.from_dict(saved_ports)
        else:
            self.ports = StackPorts.defaults(brokers or 1)
        if brokers is not None and brokers != self.ports.brokers:
            self.ports = (
                StackPorts.free(brokers) if self.ports.picked else StackPorts.defaults(brokers)
            )
        if made is not None and made != self.ports.brokers:
            self._refuse_other_cluster(made, self.ports.brokers)
        self._saved_ports: dict[str, Any] | None = (
            saved_ports if isinstance(saved_ports, dict) else None
        )
        self._requested_impl: KafkaImpl = kafka_impl
        saved_impl = saved.get("kafka_impl")
        self.kafka_impl_used = saved_impl if saved_impl in ("kafka", "tansu") else ""
        self._ctx = Context(self.state_dir, self.cache_dir, self.ports, progress)
        self._want_chain = chain
        self.chain_enabled = bool(saved.get("chain", False))
        """Whether the stack runs anvil (known after `install()`, else from `run/stack.json`)."""
        if anvil_block_time_s is None:  # the running chain's, else automine
            saved_block_time = saved.get("anvil_block_time_s")
            anvil_block_time_s = (
                float(saved_block_time) if isinstance(saved_block_time, int | float) else 0.0
            )
        self._anvil = AnvilService(self._ctx, anvil_block_time_s)

    @property
    def brokers(self) -> int:
        """Kafka nodes of the stack (`ixo stack up --brokers N`)."""
        return self.ports.brokers

    def _refuse_other_cluster(self, made: int, brokers: int) -> None:
        """A state dir keeps the cluster it was made with: its nodes' storage and quorum."""
        if (self.state_dir / "kafka" / "data" / "meta.properties").is_file():
            msg = (
                f"the stack in {self.state_dir} was made with {made} Kafka broker"
                f"{'s' if made != 1 else ''}, not {brokers}: use another IXO_STATE_DIR"
                " (or `ixo stack down` and delete this one's kafka* folders)"
            )
            raise StackError(msg)

    # -- public API -------------------------------------------------------------------------

    def install(self) -> None:
        """Install or find everything the services need (cached: fast the second time)."""
        impl = self._choose_kafka_impl()
        services = self._services(impl, chain=self._want_chain)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(len(services), thread_name_prefix="ixo-install") as pool:
            futures = [(service, pool.submit(service.install)) for service in services]
            errors = [(service, f.exception()) for service, f in futures]
        chain = self._want_chain
        for service, error in errors:
            if isinstance(error, ChainUnavailableError):
                # Like the Tansu fallback: say it once and go on without the chain.
                self._ctx.say(f"{service.name}: {error}; the stack runs without a chain")
                chain = False
            elif error is not None:
                raise error
        self.kafka_impl_used = impl
        self.chain_enabled = chain

    def up(self, timeout: float = 180) -> None:
        """Install, start every service not already running, and wait until all answer.

        When the ports were picked free (`StackPorts.free()`) and another program takes one of
        them before our server binds it, new ports are picked and the start is retried (at most
        `_PORT_ATTEMPTS` times in all).
        """
        self.install()
        deadline = time.monotonic() + timeout  # for the starts, not the (first) install
        with file_lock(self._ctx.run_dir / ".lock", what="stack", on_wait=self._ctx.say):
            for attempt in range(1, _PORT_ATTEMPTS + 1):
                try:
                    self._up_locked(deadline, timeout)
                except PortConflictError as exc:
                    if not self.ports.picked or attempt == _PORT_ATTEMPTS:
                        raise
                    self._ctx.say(f"stack: {exc}; picking other free ports and retrying")
                    self.ports = StackPorts.free(self.brokers)
                    self._ctx.ports = self.ports
                    continue
                return

    def _up_locked(self, deadline: float, timeout: float) -> None:
        services = self._services(self.kafka_impl_used, chain=self.chain_enabled)
        self._check_ports_unchanged(services)
        running: dict[str, int] = {}
        for service in services:
            pid = read_pid(service.pid_path)
            if pid is not None and is_alive(pid, service.marker):
                running[service.name] = pid
                self._ctx.say(f"{service.name}: already running (pid {pid})")
        to_start = [s for s in services if s.name not in running]
        self._check_ports_free(to_start)
        self._write_state()
        started: list[tuple[Service, int]] = []
        try:
            for service in to_start:
                started.append((service, self._start(service)))
            waiting = [(s, running[s.name]) for s in services if s.name in running]
            wait_healthy([*started, *waiting], self._ctx, deadline, timeout)
        except BaseException:
            if started:
                self._ctx.say(
                    "stack: stopping the services this start launched: "
                    + ", ".join(s.name for s, _ in started)
                )
                stop_all([(s.name, pid, s.marker) for s, pid in started], _STOP_TIMEOUT)
                for service, _ in started:
                    service.pid_path.unlink(missing_ok=True)
            raise

    def down(self) -> None:
        """Stop the services (SIGTERM, wait, then SIGKILL); their data is kept."""
        with file_lock(self._ctx.run_dir / ".lock", what="stack", on_wait=self._ctx.say):
            targets: list[tuple[Service, int]] = []
            for service in self._services(self.kafka_impl_used or "kafka", chain=True):
                pid = read_pid(service.pid_path)
                if pid is None:
                    continue
                if is_alive(pid, service.marker):
                    self._ctx.say(f"{service.name}: stopping (pid {pid})")
                    targets.append((service, pid))
                else:
                    service.pid_path.unlink(missing_ok=True)
            if not targets:
                self._ctx.say("stack: nothing running")
                return
            took = stop_all([(s.name, pid, s.marker) for s, pid in targets], _STOP_TIMEOUT)
            for service, _ in targets:
                service.pid_path.unlink(missing_ok=True)
                self._ctx.say(f"{service.name}: stopped in {took.get(service.name, 0.0):.1f}s")

    def status(self) -> list[ServiceStatus]:
        """Each service: running or not, its pid, address and a one-line detail."""
        statuses: list[ServiceStatus] = []
        chain = self.chain_enabled or read_pid(self._anvil.pid_path) is not None
        for service in self._services(self.kafka_impl_used or "kafka", chain=chain):
            pid = read_pid(service.pid_path)
            alive = pid is not None and is_alive(pid, service.marker)
            if alive:
                detail = service.describe()
                if not port_open(service.port):
                    detail += "; starting (port not open yet)"
            else:
                detail = "not running"
            statuses.append(
                ServiceStatus(
                    name=service.name,
                    running=alive,
                    pid=pid if alive else None,
                    address=service.address,
                    detail=detail,
                )
            )
        return statuses

    def env(self) -> dict[str, str]:
        """The environment that points the platform's code at this stack (`IXO_ETH_RPC_URL`
        only when the stack runs the chain)."""
        bootstrap = ",".join(
            f"{LOOPBACK}:{self.ports.kafka_node(n)[0]}" for n in range(1, self.brokers + 1)
        )
        env = {
            "IXO_KAFKA_BOOTSTRAP": bootstrap,
            "IXO_MONGODB_URL": f"mongodb://{LOOPBACK}:{self.ports.mongodb}/",
            "IXO_REDIS_URL": f"redis://{LOOPBACK}:{self.ports.redis}/0",
            "IXO_STATE_DIR": str(self.state_dir),
        }
        if self.brokers > 1:  # the topics Impressox creates are replicated like the cluster's
            replicas, min_isr = cluster_replication(self.brokers)
            env["IXO_KAFKA__REPLICATION_FACTOR"] = str(replicas)
            env["IXO_KAFKA__MIN_INSYNC_REPLICAS"] = str(min_isr)
        if self.chain_enabled:
            env["IXO_ETH_RPC_URL"] = self._anvil.url
        return env

    # -- internals --------------------------------------------------------------------------

    def _services(self, kafka_impl: str, *, chain: bool) -> list[Service]:
        kafka: list[Service]
        if kafka_impl == "tansu":
            if self.brokers > 1:
                msg = "Tansu runs one broker only: a cluster needs Apache Kafka (Java 17+)"
                raise StackError(msg)
            kafka = [TansuService(self._ctx)]
        else:
            kafka = [KafkaService(self._ctx, n) for n in range(1, self.brokers + 1)]
        services: list[Service] = [*kafka, FerretDBService(self._ctx), RedisService(self._ctx)]
        return [*services, self._anvil] if chain else services

    def _running_kafka_impl(self) -> str | None:
        for impl, service in (
            ("kafka", KafkaService(self._ctx)),
            ("tansu", TansuService(self._ctx)),
        ):
            pid = read_pid(service.pid_path)
            if pid is not None and is_alive(pid, service.marker):
                return impl
        return None

    def _choose_kafka_impl(self) -> str:
        running = self._running_kafka_impl()
        if running is not None:
            if self._requested_impl not in ("auto", running):
                msg = (
                    f"{running} is already running in {self.state_dir}:"
                    " stop the stack first (ixo stack down)"
                )
                raise StackError(msg)
            return running
        if self._requested_impl == "tansu":
            return "tansu"
        problem = java_problem()
        if problem is None and not (
            KafkaService(self._ctx).installed() or shutil.which("mvn") is not None
        ):
            problem = MAVEN_MISSING
        if problem is None:
            return "kafka"
        if self._requested_impl == "kafka":
            raise StackError(problem)
        if tansu_binary() is None:
            msg = f"{problem}; or, for the memory-only fallback broker: {TANSU_MISSING}"
            raise StackError(msg)
        logger.warning("%s: falling back to Tansu (memory storage only)", problem)
        self._ctx.say(f"kafka: {problem}")
        self._ctx.say("kafka: WARNING falling back to Tansu, whose data is NOT persisted")
        return "tansu"

    def _check_ports_unchanged(self, services: list[Service]) -> None:
        if not self._explicit_ports or self._saved_ports is None:
            return
        if StackPorts.from_dict(self._saved_ports) == self.ports:
            return
        for service in services:
            pid = read_pid(service.pid_path)
            if pid is not None and is_alive(pid, service.marker):
                msg = (
                    f"the stack in {self.state_dir} runs on other ports"
                    f" ({self._saved_ports}): stop it first (ixo stack down)"
                )
                raise StackError(msg)

    def _start(self, service: Service) -> int:
        try:
            service.prepare()
            argv, env, cwd = service.command()
            self._ctx.say(f"{service.name}: starting on {service.address}")
            return spawn(
                argv, cwd=cwd, env=env, log_path=service.log_path, pid_path=service.pid_path
            )
        except OSError as exc:
            msg = f"{service.name} could not start: {exc}"
            raise StackError(msg) from exc

    @staticmethod
    def _check_ports_free(services: list[Service]) -> None:
        for service in services:
            for port in (service.port, *service.extra_ports):
                if port_open(port):
                    msg = (
                        f"port {port} needed by {service.name} is in use by another program:"
                        " stop it or choose other ports"
                    )
                    raise PortConflictError(msg)

    def _run_state(self) -> Path:
        return self.state_dir / "run" / _STATE_FILE

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._run_state().read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self) -> None:
        path = self._run_state()
        path.parent.mkdir(parents=True, exist_ok=True)
        ports = self.ports.as_dict()
        state = {
            "ports": ports,
            "kafka_impl": self.kafka_impl_used,
            "chain": self.chain_enabled,
            "anvil_block_time_s": self._anvil.block_time_s,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)
        self._saved_ports = dict(ports)


def wait_healthy(
    pending: list[tuple[Service, int]], ctx: Context, deadline: float, timeout: float
) -> None:
    """Wait until each (service, pid) answers; StackError naming the cause when one exits
    (PortConflictError when its output says a port was taken), or when `deadline` passes."""
    pending = list(pending)
    start = time.monotonic()
    while pending:
        for item in list(pending):
            service, pid = item
            if not is_alive(pid, service.marker):
                raise _exited(service, pid)
            probe = max(0.5, min(3.0, deadline - time.monotonic()))
            # The answer must come from our process, not from another one on the port.
            if service.healthy(probe) and listens_on(pid, service.port) is not False:
                took = time.monotonic() - start
                ctx.say(f"{service.name}: ready on {service.address} ({took:.1f}s)")
                pending.remove(item)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(s.name for s, _ in pending)
            msg = f"{names} not ready after {timeout:.0f}s (logs in {ctx.logs_dir})"
            raise StackError(msg)
        time.sleep(_POLL)


def _exited(service: Service, pid: int) -> StackError:
    code = exit_code(pid)
    service.pid_path.unlink(missing_ok=True)
    how = "" if code is None else f" (exit {code})"
    cause = exit_cause(service.log_path)
    if address_in_use(service.log_path):
        ports = ", ".join(str(p) for p in (service.port, *service.extra_ports))
        msg = f"{service.name} could not bind its port ({ports}){how}: {cause}"
        return PortConflictError(msg)
    msg = f"{service.name} exited during start{how}: {cause} (log: {service.log_path})"
    return StackError(msg)
