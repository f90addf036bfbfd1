"""MnasNet's reward (Eq. 2) in its soft, hard and budget forms."""

import math

import pytest

from convzoo.errors import ConvzooError
from convzoo.nas.reward import Reward


def test_soft_form_is_eq_2_with_minus_0_07_on_both_sides_of_the_target():
    reward = Reward("latency", target=80.0, form="soft")
    assert reward(0.75, 80.0) == pytest.approx(0.75)
    assert reward(0.75, 160.0) == pytest.approx(0.75 * 2 ** -0.07)
    assert reward(0.75, 40.0) == pytest.approx(0.75 * 0.5 ** -0.07)  # faster than the target scores higher


def test_soft_form_a_twice_slower_model_needs_about_5_percent_more_accuracy():
    reward = Reward("latency", target=10.0)
    assert reward(0.80 / 2 ** -0.07, 20.0) == pytest.approx(reward(0.80, 10.0))
    assert 1 / 2 ** -0.07 == pytest.approx(1.05, abs=0.002)


def test_hard_form_is_accuracy_within_the_target_and_a_steep_penalty_above():
    reward = Reward("latency", target=10.0, form="hard")
    assert reward(0.9, 5.0) == 0.9 and reward(0.9, 10.0) == 0.9
    assert reward(0.9, 20.0) == pytest.approx(0.45)


def test_budget_form_is_zero_above_the_budget():
    reward = Reward("macs", target=1e6, form="budget")
    assert reward(0.9, 1e6) == 0.9
    assert reward(0.9, 1e6 + 1) == 0.0


def test_cost_reads_the_objective_of_a_record():
    record = {"latency_ms": 3.5, "macs": 1200, "params": 77}
    assert [Reward(objective).cost(record) for objective in ("latency", "macs", "params")] == [3.5, 1200, 77]


@pytest.mark.parametrize("kwargs, words", [
    ({"objective": "flops"}, "unknown objective 'flops'"),
    ({"form": "harsh"}, "unknown reward form 'harsh'"),
    ({"target": 0.0}, "target must be positive"),
    ({"target": math.nan}, "target must be positive"),
])
def test_bad_settings_are_one_line(kwargs, words):
    with pytest.raises(ConvzooError, match=words):
        Reward(**kwargs)
