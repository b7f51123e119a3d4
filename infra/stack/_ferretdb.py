"""MongoDB wire protocol: FerretDB v1.24 with its SQLite backend, built with `go install`."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path
from urllib.parse import quote

from infra.stack._base import Service, StackError
from infra.stack._ports import LOOPBACK
from infra.stack._process import file_lock, run_checked

logger = logging.getLogger(__name__)

FERRETDB_VERSION = "1.24.2"
FERRETDB_PACKAGE = "github.com/FerretDB/FerretDB/cmd/ferretdb"
_MODULE_DIR = Path(__file__).parent / "ferretdb"
# where `go mod vendor` puts FerretDB's version package, which embeds build/version/*.txt
_VERSION_TXT = Path("vendor/github.com/FerretDB/FerretDB/build/version/version.txt")

GO_MISSING = (
    f"Go not found (needed once to build FerretDB v{FERRETDB_VERSION}):"
    " install Go 1.24 or newer and put `go` on PATH"
)


def find_go() -> Path | None:
    found = shutil.which("go")
    if found:
        return Path(found)
    goroot = os.environ.get("GOROOT")
    candidate = Path(goroot) / "bin" / "go" if goroot else None
    return candidate if candidate is not None and candidate.is_file() else None


class FerretDBService(Service):
    """FerretDB speaking the MongoDB wire protocol, storing into SQLite files under state_dir."""

    name = "ferretdb"
    marker = "ferretdb --handler=sqlite "

    @property
    def port(self) -> int:
        return self.ctx.ports.mongodb

    @property
    def home(self) -> Path:
        return self.ctx.cache_dir / f"ferretdb-{FERRETDB_VERSION}"

    @property
    def binary(self) -> Path:
        return self.home / "bin" / "ferretdb"

    @property
    def work_dir(self) -> Path:
        return self.ctx.state_dir / "ferretdb"

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    def _module_digest(self) -> str:
        digest = hashlib.sha256()
        for name in ("go.mod", "go.sum"):
            digest.update((_MODULE_DIR / name).read_bytes())
        return digest.hexdigest()

    def installed(self) -> bool:
        marker = self.home / ".complete"
        return (
            self.binary.is_file()
            and marker.is_file()
            and marker.read_text().strip() == self._module_digest()
        )

    def install(self) -> None:
        if self.installed():
            return
        with file_lock(
            self.ctx.cache_dir / ".ferretdb.lock", what="FerretDB install", on_wait=self.ctx.say
        ):
            if self.installed():
                return
            go = find_go()
            if go is None:
                raise StackError(GO_MISSING)
            self.ctx.say(
                f"ferretdb: building FerretDB v{FERRETDB_VERSION} with `go install`"
                " (first time only, about a minute)"
            )
            self._build(go)
            (self.home / ".complete").write_text(self._module_digest() + "\n")
            self.ctx.say(f"ferretdb: binary cached in {self.binary}")

    def _build(self, go: Path) -> None:
        """`go install` FerretDB from our pinned module (go.mod/go.sum beside this file).

        FerretDB's `build/version` package panics at start unless it embeds a
        `version.txt`, which the module proxy's zip does not carry. So the module is
        vendored into a scratch copy, the file is added there, and the binary is built from
        the vendor tree; the module cache (read-only) is left untouched.
        """
        build = self.home / "build"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        for name in ("go.mod", "go.sum"):
            shutil.copyfile(_MODULE_DIR / name, build / name)
        env = dict(os.environ)
        env.update({"GOWORK": "off", "CGO_ENABLED": "0", "GOBIN": str(self.binary.parent)})
        log = self.home / "install.log"
        try:
            run_checked(
                [str(go), "mod", "vendor"],
                what="go mod vendor (FerretDB sources)",
                log_path=log,
                cwd=build,
                env=env,
            )
            version_txt = build / _VERSION_TXT
            if not version_txt.parent.is_dir():
                msg = f"FerretDB's version package is missing from {version_txt.parent}"
                raise StackError(msg)
            version_txt.write_text(f"v{FERRETDB_VERSION}\n")
            run_checked(
                [str(go), "install", "-mod=vendor", "-trimpath", FERRETDB_PACKAGE],
                what=f"go install FerretDB v{FERRETDB_VERSION}",
                log_path=log,
                cwd=build,
                env=env,
            )
        finally:
            shutil.rmtree(build, ignore_errors=True)
        if not self.binary.is_file():
            msg = f"go install did not produce {self.binary} (output in {log})"
            raise StackError(msg)

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> tuple[list[str], dict[str, str] | None, Path]:
        argv = [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{quote(str(self.data_dir))}/",
            f"--state-dir={self.work_dir}",
            f"--listen-addr={LOOPBACK}:{self.port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-format=text",
            "--log-level=info",
        ]
        return argv, None, self.work_dir

    def check(self, timeout: float) -> bool:
        from pymongo import MongoClient

        ms = int(timeout * 1000)
        client: MongoClient[dict[str, object]] = MongoClient(
            f"mongodb://{self.address}/",
            directConnection=True,
            serverSelectionTimeoutMS=ms,
            connectTimeoutMS=ms,
            socketTimeoutMS=ms,
        )
        try:
            reply = client.admin.command("ping")
        finally:
            client.close()
        return bool(reply.get("ok"))

    def describe(self) -> str:
        return f"FerretDB v{FERRETDB_VERSION} (SQLite), data in {self.data_dir}"
