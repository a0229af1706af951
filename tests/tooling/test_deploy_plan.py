"""The live-deployment plan (`perp deploy --config plan.yaml`): the optional L2 sequencer guard is parsed, printed
before anything is sent, and every bad value gets a message naming its field. Pure Python."""
import pytest

from perp.deploy import DeployError, load_plan, plan_text

TOKEN = "0x" + "11" * 20
FEED = "0x" + "22" * 20
UPTIME = "0x" + "33" * 20


def plan(**extra):
    return {"collateral": TOKEN, "markets": [{"name": "ETH-PERP", "oracle": FEED}], **extra}


def test_a_plan_without_a_sequencer_feed_lists_the_price_feeds_themselves():
    p = load_plan(plan(), 6)
    assert (p.sequencer_uptime_feed, p.sequencer_grace_period) == ("", 3600)
    assert "sequencer" not in plan_text(p, TOKEN, 1)


def test_an_l2_plan_puts_every_market_behind_the_sequencer_guard():
    p = load_plan(plan(sequencer_uptime_feed=UPTIME, sequencer_grace_period=600), 6)
    assert p.sequencer_uptime_feed.lower() == UPTIME and p.sequencer_grace_period == 600
    text = plan_text(p, TOKEN, 42161)
    assert f"sequencer uptime feed {p.sequencer_uptime_feed}, grace period 600 s" in text


@pytest.mark.parametrize("extra, message", [
    ({"sequencer_uptime_feed": "0x1234"}, "plan.sequencer_uptime_feed: must be the uptime feed's address, got '0x1234'"),
    ({"sequencer_uptime_feed": UPTIME, "sequencer_grace_period": "an hour"},
     "plan.sequencer_grace_period: must be a whole number of seconds, got 'an hour'"),
    ({"sequencer_uptime_feed": UPTIME, "sequencer_grace_period": 86_401},
     "plan.sequencer_grace_period: must be within [0, 86400] seconds, got 86401"),
])
def test_a_bad_sequencer_setting_names_its_field(extra, message):
    with pytest.raises(DeployError) as exc:
        load_plan(plan(**extra), 6)
    assert str(exc.value) == message
