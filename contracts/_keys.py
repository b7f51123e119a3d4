"""The signing account of a private key given as ``SecretStr``, for the deployer and the
transaction service alike. Messages never quote the key; eth-account (about two seconds to
import) loads on the first call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from contracts._errors import ContractsError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def load_account(private_key: SecretStr) -> LocalAccount:
    """The account that signs with ``private_key`` (a :class:`ContractsError` when it is empty
    or not a key)."""
    from eth_account import Account

    raw = private_key.get_secret_value().strip()
    if not raw:
        msg = "no signing key: set IXO_ETH_PRIVATE_KEY"
        raise ContractsError(msg)
    try:
        account: LocalAccount = Account.from_key(raw)
    except Exception:  # its message could quote the key: say what is wrong, not what it is
        msg = "IXO_ETH_PRIVATE_KEY is not a private key (32 bytes as 64 hex digits)"
        raise ContractsError(msg) from None
    return account
