// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title The events, errors and types shared by every AlertRegistry version
/// @notice Off-chain readers (the Impressox chain listener) decode logs with these definitions;
/// renaming or reordering anything here is a breaking change for them.
interface IAlertRegistry {
    /// @notice The price condition of an alert (the same kinds as an Impressox alert rule).
    enum Kind {
        Above,
        Below,
        CrossesAbove,
        CrossesBelow
    }

    /// @notice One on-chain price alert.
    /// @dev `threshold` is a price with `THRESHOLD_DECIMALS` decimals (64123.5 = 6412350000000).
    struct Alert {
        address owner;
        Kind kind;
        bool active;
        uint64 createdAt;
        uint256 threshold;
        string symbol;
    }

    event AlertRegistered(
        uint256 indexed id,
        address indexed owner,
        string symbol,
        Kind kind,
        uint256 threshold,
        uint8 decimals
    );
    event AlertCancelled(uint256 indexed id, address indexed owner);
    event Subscribed(address indexed wallet, string channel);
    event Unsubscribed(address indexed wallet);

    error InvalidSymbol();
    error ZeroThreshold();
    error InvalidChannel();
    error UnknownAlert(uint256 id);
    error NotAlertOwner(uint256 id, address caller);
    error AlertNotActive(uint256 id);
    error TooManyAlerts(address wallet, uint256 limit);
    error NotSubscribed(address wallet);
}
