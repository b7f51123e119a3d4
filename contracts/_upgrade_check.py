"""Storage-layout compatibility of a new implementation, checked by OpenZeppelin's
upgrades-core (`scripts/check-upgrade.cjs`) on the old and new build-info files."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts._errors import ContractsError, IncompatibleUpgrade
from contracts._project import ContractsProject

CHECK_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class UpgradeReport:
    """upgrades-core's verdict and its explanation (several lines when it refuses)."""

    ok: bool
    report: str

    @property
    def problems(self) -> list[str]:
        """The findings of a refusal, without headers, hints and the verdict line."""
        found = []
        for raw in self.report.splitlines():
            line = raw.strip()
            if not line or line in {"FAILED", "SUCCESS"} or line.startswith((">", "✘", "✔")):
                continue
            found.append(line)
        return found

    @property
    def first_problem(self) -> str:
        """The first findings of a refusal, on one line."""
        found = self.problems
        if not found:
            return "no explanation given"
        more = f"; and {len(found) - 2} more" if len(found) > 2 else ""
        return "; ".join(found[:2]) + more


def check_upgrade(
    new_build_info: Path,
    new_contract: str,
    old_build_info: Path,
    old_contract: str,
    *,
    project: ContractsProject | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> UpgradeReport:
    """Run upgrades-core's validation of `new_contract` against `old_contract`."""
    project = project or ContractsProject()
    project.require_packages()
    argv = [
        str(project.node()),
        str(project.scripts / "check-upgrade.cjs"),
        str(new_build_info),
        new_contract,
        str(old_build_info),
        old_contract,
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, cwd=project.root, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        msg = f"the upgrade-safety check took more than {timeout:.0f}s"
        raise ContractsError(msg) from None
    lines = [ln for ln in done.stdout.decode(errors="replace").splitlines() if ln.startswith("{")]
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        stderr = done.stderr.decode(errors="replace").strip().splitlines()
        why = stderr[-1] if stderr else f"exit {done.returncode}"
        msg = f"the upgrade-safety check could not run: {why}"
        raise ContractsError(msg) from None
    if done.returncode == 2:
        msg = f"the upgrade-safety check could not run: {' '.join(str(verdict['report']).split())}"
        raise ContractsError(msg)
    return UpgradeReport(ok=bool(verdict.get("ok")), report=str(verdict.get("report", "")))


def require_compatible(
    new_build_info: Path,
    new_contract: str,
    old_build_info: Path,
    old_contract: str,
    *,
    project: ContractsProject | None = None,
) -> UpgradeReport:
    """`check_upgrade`, raising IncompatibleUpgrade (one line) when upgrades-core refuses."""
    verdict = check_upgrade(
        new_build_info, new_contract, old_build_info, old_contract, project=project
    )
    if not verdict.ok:
        msg = (
            f"refused: {new_contract} is not a safe upgrade of {old_contract}"
            f" ({verdict.first_problem})"
        )
        raise IncompatibleUpgrade(msg)
    return verdict
