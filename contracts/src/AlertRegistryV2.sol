// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {OwnableUpgradeable} from "@openzeppelin/contracts-upgradeable/access/OwnableUpgradeable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";

import {IAlertRegistry} from "./IAlertRegistry.sol";

/// @title AlertRegistry (version 2)
/// @notice A wallet registers on-chain price alerts (symbol, condition, threshold), cancels
/// them, and subscribes a notification channel. Deployed behind an ERC1967 proxy (UUPS): only
/// the owner may upgrade it.
/// Version 2 adds `updateThreshold` (an owner changes an active alert's threshold in place) and
/// records when each alert last changed.
/// @dev Same ERC-7201 namespace as version 1 with one field appended (`updatedAt`): the layout
/// check of `ixo contracts upgrade` (OpenZeppelin upgrades-core) accepts it.
/// @custom:oz-upgrades-from AlertRegistry
contract AlertRegistryV2 is IAlertRegistry, Initializable, OwnableUpgradeable, UUPSUpgradeable {
    /// @notice Decimals of every threshold.
    uint8 public constant THRESHOLD_DECIMALS = 8;
    /// @notice Active alerts one wallet may hold.
    uint256 public constant MAX_ACTIVE_ALERTS = 100;
    uint256 private constant MAX_SYMBOL_BYTES = 32;
    uint256 private constant MAX_CHANNEL_BYTES = 256;

    /// @custom:storage-location erc7201:impressox.storage.AlertRegistry
    struct AlertRegistryStorage {
        uint256 nextId;
        mapping(uint256 id => Alert) alerts;
        mapping(address wallet => uint256) activeCount;
        mapping(address wallet => string) channels;
        // added in version 2
        mapping(uint256 id => uint64) updatedAt;
    }

    /// @notice An active alert's threshold changed (version 2).
    event AlertUpdated(uint256 indexed id, address indexed owner, uint256 threshold, uint8 decimals);

    // keccak256(abi.encode(uint256(keccak256("impressox.storage.AlertRegistry")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STORAGE_LOCATION =
        0xacf41d721f5dfb24951503627220628c774250ef3b318784a45ae85372d8d300;

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Set the owner (who alone may upgrade); called once, through the proxy.
    function initialize(address initialOwner) external initializer {
        __Ownable_init(initialOwner);
        _store().nextId = 1;
    }

    /// @notice Register a price alert owned by the caller; returns its id (from 1 up).
    function registerAlert(string calldata symbol, Kind kind, uint256 threshold)
        external
        returns (uint256 id)
    {
        _checkSymbol(bytes(symbol));
        if (threshold == 0) revert ZeroThreshold();
        AlertRegistryStorage storage $ = _store();
        if ($.activeCount[msg.sender] >= MAX_ACTIVE_ALERTS) {
            revert TooManyAlerts(msg.sender, MAX_ACTIVE_ALERTS);
        }
        id = $.nextId++;
        $.alerts[id] = Alert({
            owner: msg.sender,
            kind: kind,
            active: true,
            createdAt: uint64(block.timestamp),
            threshold: threshold,
            symbol: symbol
        });
        $.activeCount[msg.sender] += 1;
        emit AlertRegistered(id, msg.sender, symbol, kind, threshold, THRESHOLD_DECIMALS);
    }

    /// @notice Cancel one of the caller's active alerts.
    function cancelAlert(uint256 id) external {
        AlertRegistryStorage storage $ = _store();
        Alert storage alert = _ownedActive($, id);
        alert.active = false;
        $.activeCount[msg.sender] -= 1;
        emit AlertCancelled(id, msg.sender);
    }

    /// @notice Change the threshold of one of the caller's active alerts (version 2).
    function updateThreshold(uint256 id, uint256 threshold) external {
        if (threshold == 0) revert ZeroThreshold();
        AlertRegistryStorage storage $ = _store();
        Alert storage alert = _ownedActive($, id);
        alert.threshold = threshold;
        $.updatedAt[id] = uint64(block.timestamp);
        emit AlertUpdated(id, msg.sender, threshold, THRESHOLD_DECIMALS);
    }

    /// @notice When `id` last changed: its update time, else its creation time (version 2).
    function lastChangedAt(uint256 id) external view returns (uint64) {
        AlertRegistryStorage storage $ = _store();
        Alert storage alert = $.alerts[id];
        if (alert.owner == address(0)) revert UnknownAlert(id);
        uint64 updated = $.updatedAt[id];
        return updated != 0 ? updated : alert.createdAt;
    }

    /// @notice Subscribe the caller to notifications on `channel` (replaces an earlier one).
    function subscribe(string calldata channel) external {
        uint256 size = bytes(channel).length;
        if (size == 0 || size > MAX_CHANNEL_BYTES) revert InvalidChannel();
        _store().channels[msg.sender] = channel;
        emit Subscribed(msg.sender, channel);
    }

    /// @notice Stop the caller's notifications.
    function unsubscribe() external {
        AlertRegistryStorage storage $ = _store();
        if (bytes($.channels[msg.sender]).length == 0) revert NotSubscribed(msg.sender);
        delete $.channels[msg.sender];
        emit Unsubscribed(msg.sender);
    }

    /// @notice One alert by id (reverts for an id never registered).
    function getAlert(uint256 id) external view returns (Alert memory) {
        Alert storage alert = _store().alerts[id];
        if (alert.owner == address(0)) revert UnknownAlert(id);
        return alert;
    }

    /// @notice How many alerts were ever registered.
    function alertCount() external view returns (uint256) {
        return _store().nextId - 1;
    }

    /// @notice How many active alerts `wallet` holds.
    function activeAlertsOf(address wallet) external view returns (uint256) {
        return _store().activeCount[wallet];
    }

    /// @notice The channel `wallet` subscribed ("" when none).
    function channelOf(address wallet) external view returns (string memory) {
        return _store().channels[wallet];
    }

    /// @notice The implementation's version.
    function version() external pure virtual returns (string memory) {
        return "2.0.0";
    }

    function _ownedActive(AlertRegistryStorage storage $, uint256 id)
        internal
        view
        returns (Alert storage alert)
    {
        alert = $.alerts[id];
        if (alert.owner == address(0)) revert UnknownAlert(id);
        if (alert.owner != msg.sender) revert NotAlertOwner(id, msg.sender);
        if (!alert.active) revert AlertNotActive(id);
    }

    function _checkSymbol(bytes calldata symbol) internal pure {
        if (symbol.length == 0 || symbol.length > MAX_SYMBOL_BYTES) revert InvalidSymbol();
        for (uint256 i = 0; i < symbol.length; ++i) {
            bytes1 c = symbol[i];
            bool ok = (c >= "A" && c <= "Z") || (c >= "0" && c <= "9");
            if (!ok) revert InvalidSymbol();
        }
    }

    function _authorizeUpgrade(address) internal override onlyOwner {}

    function _store() private pure returns (AlertRegistryStorage storage $) {
        assembly {
            $.slot := STORAGE_LOCATION
        }
    }
}
