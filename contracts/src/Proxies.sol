// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Brings OpenZeppelin's ERC1967Proxy into the build: `ixo contracts deploy` puts every
// AlertRegistry version behind one.
import {ERC1967Proxy} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol";
