"""Deploy an implementation behind an ERC1967 proxy (UUPS) and upgrade it, with web3.py.

Every transaction is signed here with the configured key (the node never holds it) and waited
for; a revert is reported with the contract's custom error decoded from the ABI.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from pydantic import SecretStr
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt

from contracts._artifacts import Build, ContractArtifact
from contracts._errors import (
    ChainUnavailable,
    ContractsError,
    DeploymentNotFound,
    TransactionFailed,
)
from contracts._keys import load_account
from contracts._records import DeploymentRecord, ImplementationRecord
from contracts._reverts import custom_error

#: ERC-1967's implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC
PROXY_CONTRACT = "ERC1967Proxy"
RPC_TIMEOUT_S = 30.0
RECEIPT_TIMEOUT_S = 120.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


class Chain:
    """A JSON-RPC endpoint and the account that signs (its key stays in this object; without
    one the chain is read-only)."""

    def __init__(
        self,
        rpc_url: str,
        private_key: SecretStr | None = None,
        *,
        timeout: float = RPC_TIMEOUT_S,
        receipt_timeout: float = RECEIPT_TIMEOUT_S,
    ) -> None:
        self.rpc_url = rpc_url
        self.receipt_timeout = receipt_timeout
        self._account = None if private_key is None else load_account(private_key)
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        self._chain_id: int | None = None

    @property
    def signer(self) -> LocalAccount:
        if self._account is None:
            msg = "no signing key: set IXO_ETH_PRIVATE_KEY"
            raise ContractsError(msg)
        return self._account

    @property
    def address(self) -> str:
        return str(self.signer.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._call(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run a read; an unreachable node becomes ChainUnavailable."""
        try:
            return fn()
        except (OSError, Web3Exception) as exc:
            if isinstance(exc, ContractLogicError):
                raise
            msg = f"cannot reach the chain at {self.rpc_url}: {_short(exc)}"
            raise ChainUnavailable(msg) from None
        except Exception as exc:  # requests' connection errors are not OSErrors
            if type(exc).__module__.startswith(("requests", "urllib3")):
                msg = f"cannot reach the chain at {self.rpc_url}: {type(exc).__name__}"
                raise ChainUnavailable(msg) from None
            raise

    def factory(self, artifact: ContractArtifact) -> type[Contract]:
        """The contract class that deploys `artifact` and encodes its calls."""
        return self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)

    def contract(self, artifact: ContractArtifact, address: str) -> Contract:
        """`artifact`'s ABI at `address`."""
        return self.w3.eth.contract(address=to_checksum_address(address), abi=artifact.abi)

    def transact(
        self, what: str, build: Callable[[TxParams], TxParams], abi: list[Any]
    ) -> TxReceipt:
        """Build (with `build`), sign, send and wait for one transaction; revert -> error."""
        signer = self.signer
        nonce = self._call(lambda: self.w3.eth.get_transaction_count(signer.address, "pending"))
        base: TxParams = {"from": signer.address, "nonce": nonce, "chainId": self.chain_id}
        try:
            tx = self._call(lambda: build(base))
        except ContractLogicError as exc:
            msg = f"{what} would revert: {_revert_reason(exc, abi)}"
            raise TransactionFailed(msg) from None
        signed = signer.sign_transaction(tx)
        tx_hash = self._call(lambda: self.w3.eth.send_raw_transaction(signed.raw_transaction))
        try:
            receipt: TxReceipt = self._call(
                lambda: self.w3.eth.wait_for_transaction_receipt(
                    tx_hash, timeout=self.receipt_timeout, poll_latency=0.1
                )
            )
        except TimeExhausted:
            msg = f"{what}: no receipt for {tx_hash.to_0x_hex()} after {self.receipt_timeout:.0f}s"
            raise TransactionFailed(msg) from None
        if receipt["status"] != 1:
            msg = f"{what} reverted (tx {tx_hash.to_0x_hex()})"
            raise TransactionFailed(msg)
        return receipt

    def deploy(self, artifact: ContractArtifact, *args: Any) -> tuple[str, TxReceipt]:
        if not artifact.deployable:
            msg = f"{artifact.name} has no bytecode (an interface or abstract contract)"
            raise ContractsError(msg)
        factory = self.factory(artifact)
        receipt = self.transact(
            f"deploying {artifact.name}",
            lambda base: factory.constructor(*args).build_transaction(base),
            artifact.abi,
        )
        address = receipt["contractAddress"]
        if address is None:
            msg = f"deploying {artifact.name}: the receipt has no contract address"
            raise TransactionFailed(msg)
        return str(address), receipt

    def implementation_of(self, proxy: str) -> str:
        """The implementation address in a proxy's ERC-1967 slot."""
        raw = self._call(
            lambda: self.w3.eth.get_storage_at(to_checksum_address(proxy), IMPLEMENTATION_SLOT)
        )
        return to_checksum_address(bytes(raw)[-20:])

    def has_code(self, address: str) -> bool:
        code = self._call(lambda: self.w3.eth.get_code(to_checksum_address(address)))
        return len(bytes(code)) > 0

    def block_hash(self, number: int) -> str | None:
        try:
            block = self._call(lambda: self.w3.eth.get_block(number))
        except ChainUnavailable:
            raise
        except Web3Exception:
            return None
        value = block.get("hash")
        return None if value is None else "0x" + bytes(value).hex()


def deploy_proxy(
    chain: Chain,
    build: Build,
    *,
    contract: str = "AlertRegistry",
    name: str = "AlertRegistry",
    owner: str | None = None,
    progress: Progress = _quiet,
) -> DeploymentRecord:
    """Deploy `contract` and an ERC1967Proxy in front of it, initialised with `initialize(owner)`
    (default owner: the signing account). Returns the deployment record (not yet saved)."""
    implementation = build.artifact(contract)
    proxy_artifact = build.artifact(PROXY_CONTRACT)
    owner = _checked_address(owner or chain.address, "owner")
    progress(f"deploying {implementation.name} (implementation) on chain {chain.chain_id}")
    impl_address, _ = chain.deploy(implementation)
    init = chain.factory(implementation).encode_abi("initialize", args=[owner])
    progress(f"deploying {PROXY_CONTRACT} in front of {impl_address}")
    proxy_address, receipt = chain.deploy(proxy_artifact, impl_address, init)
    version = _version(chain, implementation, proxy_address)
    block_hash = _hex(receipt["blockHash"])
    step = ImplementationRecord(
        contract=implementation.name,
        version=version,
        implementation=to_checksum_address(impl_address),
        source_hash=build.source_hash,
        compiler_version=build.compiler_version,
        tx_hash=_hex(receipt["transactionHash"]),
        block_number=int(receipt["blockNumber"]),
        block_hash=block_hash,
        at=datetime.now(UTC),
    )
    return DeploymentRecord(
        name=name,
        chain_id=chain.chain_id,
        proxy=to_checksum_address(proxy_address),
        owner=owner,
        deployer=chain.address,
        proxy_tx_hash=step.tx_hash,
        proxy_block_number=step.block_number,
        proxy_block_hash=block_hash,
        history=(step,),
    )


def upgrade_proxy(
    chain: Chain,
    record: DeploymentRecord,
    build: Build,
    *,
    contract: str,
    progress: Progress = _quiet,
) -> DeploymentRecord:
    """Deploy `contract` and point the proxy of `record` at it (`upgradeToAndCall`, owner only).

    The caller checks storage-layout compatibility first (`require_compatible`)."""
    implementation = build.artifact(contract)
    problem = deployment_problem(chain, record)
    if problem is not None:
        raise DeploymentNotFound(problem)
    proxy = chain.contract(implementation, record.proxy)
    owner = _owner(chain, proxy)
    if owner is not None and owner.lower() != chain.address.lower():
        msg = (
            f"the signing account {chain.address} is not the owner ({owner}) of {record.name}"
            f" at {record.proxy}: only the owner may upgrade it"
        )
        raise ContractsError(msg)
    progress(f"deploying {implementation.name} (new implementation) on chain {chain.chain_id}")
    impl_address, _ = chain.deploy(implementation)
    progress(f"upgrading {record.proxy} to {impl_address}")
    receipt = chain.transact(
        f"upgrading {record.name}",
        lambda base: proxy.functions.upgradeToAndCall(impl_address, b"").build_transaction(base),
        implementation.abi,
    )
    now_running = chain.implementation_of(record.proxy)
    if now_running.lower() != impl_address.lower():
        msg = f"after the upgrade the proxy points at {now_running}, not at {impl_address}"
        raise TransactionFailed(msg)
    step = ImplementationRecord(
        contract=implementation.name,
        version=_version(chain, implementation, record.proxy),
        implementation=to_checksum_address(impl_address),
        source_hash=build.source_hash,
        compiler_version=build.compiler_version,
        tx_hash=_hex(receipt["transactionHash"]),
        block_number=int(receipt["blockNumber"]),
        block_hash=_hex(receipt["blockHash"]),
        at=datetime.now(UTC),
    )
    return record.model_copy(update={"history": (*record.history, step)})


def deployment_problem(chain: Chain, record: DeploymentRecord) -> str | None:
    """Why `record` does not describe this chain (None when it does): another chain id, no code
    at the proxy, or a different block where the proxy was created (the chain was reset)."""
    if record.chain_id != chain.chain_id:
        return f"{record.name} was deployed on chain {record.chain_id}, this is {chain.chain_id}"
    if not chain.has_code(record.proxy):
        return (
            f"no contract at {record.proxy} on chain {chain.chain_id}:"
            f" the chain was reset since {record.name} was deployed"
        )
    if chain.block_hash(record.proxy_block_number) != record.proxy_block_hash:
        return (
            f"block {record.proxy_block_number} on chain {chain.chain_id} is not the one"
            f" {record.name} was deployed in: the chain was reset"
        )
    return None


def _version(chain: Chain, artifact: ContractArtifact, proxy: str) -> str:
    contract = chain.contract(artifact, proxy)
    if not any(item.get("name") == "version" for item in artifact.abi):
        return ""
    return str(chain._call(lambda: contract.functions.version().call()))


def _owner(chain: Chain, contract: Contract) -> str | None:
    if not any(item.get("name") == "owner" for item in contract.abi):
        return None
    return str(chain._call(lambda: contract.functions.owner().call()))


def _checked_address(value: str, what: str) -> str:
    if not is_address(value):
        msg = f"{what} {value!r} is not an address"
        raise ContractsError(msg)
    return str(to_checksum_address(value))


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _revert_reason(exc: ContractLogicError, abi: list[Any]) -> str:
    """A custom error decoded by name from the ABI when the revert data carries one."""
    name = custom_error(exc.data if isinstance(exc.data, str) else None, abi)
    return name if name is not None else _short(exc)
