"""Headroom (core v2): every contract the protocol deploys keeps at least 4 KiB below the 24,576-byte limit of
EIP-170, so that a feature can still be added. Measured on the code the chain holds after a devnet deployment, not on
an artifact: the figure is what `eth_getCode` returns at each address."""
import pytest
from brownie import web3

HEADROOM_LIMIT = 20 * 1024  # bytes of runtime code (README, "Three parts, one address")


def _parts(env) -> dict:
    m = env.dep.manifest
    return {"Perpetual": m.perpetual, "PerpLens": m.lens, **m.libraries}


@pytest.mark.parametrize("decimals", [6], indirect=True, ids=["dec6"])
@pytest.mark.parametrize("name", ["Perpetual", "PerpetualRisk", "PerpetualAdmin", "MarketParamsLib", "PerpLens"])
def test_every_deployed_part_keeps_4_kib_of_headroom(env, name):
    code = web3.eth.get_code(_parts(env)[name])
    assert len(code) > 0, f"no code at {name}'s address"
    assert len(code) <= HEADROOM_LIMIT, (f"{name} holds {len(code):,} bytes of runtime code, above "
                                         f"{HEADROOM_LIMIT:,} (4 KiB below the EIP-170 limit)")
