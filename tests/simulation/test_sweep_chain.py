"""A sweep point chosen to run on the chain (``--chain-points``): it runs on a fresh Anvil of its own, its run
figures are the chain's, its policies are run on the same point's model books, and every figure equals the model
point's (``same_as_model``), to the unit."""
from pathlib import Path

from perp.lab.sweep import expand, parse, run_point

SCN = Path(__file__).resolve().parents[2] / "scenarios"
SAME_POINT = ("point_id", "backend", "same_as_model", "seconds")  # what may differ between the two runs' rows


def test_a_chain_point_gives_the_model_points_figures():
    raw = {"name": "chain", "scenarios": ["flash_crash.yaml"], "traders": 40, "seeds": [3],
           "grid": {"fund_seed_scale": [0.5]}, "policies": ["queue", "pro_rata"]}
    (model_point,), _ = expand(parse(raw, SCN, "chain.yaml"))
    (chain_point,), _ = expand(parse(dict(raw, chain_points=[1]), SCN, "chain.yaml"))
    assert (model_point.backend, chain_point.backend) == ("model", "chain")
    on_chain = run_point(chain_point, ["queue", "pro_rata"])
    on_model = run_point(model_point, ["queue", "pro_rata"])
    assert [r["backend"] for r in on_chain] == ["chain", "chain"] and [r["same_as_model"] for r in on_chain] == [1, 1]
    assert [r["same_as_model"] for r in on_model] == ["", ""]
    assert on_chain[0]["liquidations"] > 0 and on_chain[0]["adl_fired"] == 1  # a point where ADL happens
    for c, m in zip(on_chain, on_model):
        assert {k: v for k, v in c.items() if k not in SAME_POINT} == {k: v for k, v in m.items() if k not in SAME_POINT}
