"""``python -m perp.model``: the pure model's speed (random scenarios checked after every step)."""
from .scenarios import benchmark

if __name__ == "__main__":
    rate, st = benchmark()
    print(f"{rate:,.0f} scenarios/minute of 40 steps (checked after every step); {st.steps} steps, "
          f"{st.reverts} reverted, {st.liquidations} batch liquidations, {st.adl_fills} ADL fills; {st.actions}")
