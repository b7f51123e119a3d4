"""Revert data read by an ABI: the custom error whose selector it starts with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast


def custom_error(data: str | None, abi: Sequence[Mapping[str, Any]]) -> str | None:
    """The name of the ABI's custom error that ``data`` (``0x`` + selector + arguments) is an
    instance of; None when it carries no selector or the ABI has no such error."""
    if not (data and data.startswith("0x") and len(data) >= 10 and abi):
        return None
    from eth_utils.abi import function_abi_to_4byte_selector

    selector = bytes.fromhex(data[2:10])
    for item in abi:
        if item.get("type") != "error":
            continue
        if function_abi_to_4byte_selector(cast(Any, item)) == selector:
            return str(item["name"])
    return None
