"""Python library for the ADL perpetuals protocol.

Depends on web3.py and eth-account only, so it works inside Brownie, in plain scripts and in notebooks:

- ``perp.units``   fixed-point helpers (WAD prices and sizes, collateral units)
- ``perp.orders``  EIP-712 order signing, exactly as the contract verifies it
- ``perp.params``  default market parameters and their validation
"""
