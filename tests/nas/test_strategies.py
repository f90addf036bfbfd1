"""The search strategies on a toy space: determinism and resumption, evolution's ageing and tournaments,
REINFORCE's policy gradient, and every learning strategy beating random search on the toy reward."""

import math
import random
import statistics

import pytest
import torch

from convzoo.errors import ConvzooError
from convzoo.nas.strategies import STRATEGIES, RandomSearch, RegularizedEvolution, Reinforce
from convzoo.train.state import load_state, save_state
from nas_toy_space import ToyReward, ToySpace

# small options so that a few steps reach every phase (evolution past its random start, REINFORCE's batches)
OPTIONS = {"random": {}, "evolution": {"population_size": 4, "sample_size": 2}, "reinforce": {"hidden_size": 16},
           "reinforce_batch": {"hidden_size": 16, "batch": 3}}


def make(key, seed=0, space=None):
    name = key.split("_")[0]
    return STRATEGIES[name](space or ToySpace(), seed, **OPTIONS[key])


def steps(strategy, reward, count):
    proposals = []
    for _ in range(count):
        genotype = strategy.propose()
        strategy.observe(genotype, reward(genotype))
        proposals.append(genotype)
    return proposals


def test_strategies_table_names_the_three():
    assert STRATEGIES == {"random": RandomSearch, "evolution": RegularizedEvolution, "reinforce": Reinforce}
    assert all(STRATEGIES[name].name == name for name in STRATEGIES)


@pytest.mark.parametrize("key", list(OPTIONS))
def test_a_strategy_saved_and_loaded_proposes_what_an_uninterrupted_one_would(key, tmp_path):
    space = ToySpace([2, 3, 5, 4, 4, 3])
    reward = ToyReward(space, seed=1)
    first = make(key, seed=3, space=space)
    steps(first, reward, 7)  # evolution: past its 4 random members; reinforce_batch: one sample buffered
    path = save_state(tmp_path / "strategy.safetensors", {"strategy": first.state_dict()})
    second = make(key, seed=3, space=space)
    second.load_state_dict(load_state(path)["strategy"])
    assert steps(second, reward, 10) == steps(first, reward, 10)
    if key.startswith("reinforce"):  # the controllers and optimisers went on identically too
        for a, b in zip(first.controller.parameters(), second.controller.parameters()):
            assert torch.equal(a, b)
        assert first.baseline == second.baseline


@pytest.mark.parametrize("key", ["random", "evolution", "reinforce"])
def test_same_seed_same_proposals_other_seed_others(key):
    reward = ToyReward(ToySpace())
    runs = [steps(make(key, seed), reward, 15) for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.parametrize("key", ["random", "evolution", "reinforce"])
def test_proposals_do_not_depend_on_or_touch_the_global_generators(key):
    reward = ToyReward(ToySpace())
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        random.seed(global_seed)
        torch_state, python_state = torch.get_rng_state(), random.getstate()
        runs.append(steps(make(key, 2), reward, 8))
        assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    assert runs[0] == runs[1]


@pytest.mark.parametrize("key", ["random", "evolution", "reinforce"])
def test_observe_answers_only_the_last_proposal(key):
    strategy = make(key)
    genotype = strategy.propose()
    with pytest.raises(ConvzooError, match="propose"):
        strategy.propose()
    other = ToySpace().mutate(genotype, random.Random(0))
    with pytest.raises(ConvzooError, match="returned last"):
        strategy.observe(other, 0.5)
    with pytest.raises(ConvzooError, match="finite"):
        strategy.observe(genotype, math.nan)
    strategy.observe(genotype, 0.5)
    with pytest.raises(ConvzooError, match="returned last"):
        strategy.observe(genotype, 0.5)  # observed already


def test_loading_another_strategys_state_or_bad_options_fail():
    with pytest.raises(ConvzooError, match="evolution"):
        make("random").load_state_dict(make("evolution").state_dict())
    with pytest.raises(ConvzooError, match="seeded"):
        make("random", seed=1).load_state_dict(make("random", seed=2).state_dict())
    with pytest.raises(ConvzooError, match="sample_size"):
        RegularizedEvolution(ToySpace(), 0, population_size=4, sample_size=5)
    with pytest.raises(ConvzooError, match="lr=-1"):
        Reinforce(ToySpace(), 0, lr=-1)


# -- regularised evolution -----------------------------------------------------------------------------------

def test_evolution_starts_with_population_size_random_proposals():
    reward = ToyReward(ToySpace())
    evolution = RegularizedEvolution(ToySpace(), 4, population_size=6, sample_size=2)
    assert steps(evolution, reward, 6) == steps(RandomSearch(ToySpace(), 4), reward, 6)


def test_evolution_removes_the_oldest_member_not_the_worst():
    evolution = RegularizedEvolution(ToySpace(), 0, population_size=4, sample_size=2)
    rewards = iter([10.0, 1.0, 2.0, 3.0, 0.0, 0.5, 0.1])  # the first member is by far the best
    for step in range(7):
        evolution.observe(evolution.propose(), next(rewards))
        assert len(evolution.population) == min(step + 1, 4)
        assert [member["born"] for member in evolution.population] == list(range(max(0, step - 3), step + 1))
    assert max(member["reward"] for member in evolution.population) == 3.0  # 10.0 aged out


def test_evolution_child_is_the_tournament_winner_mutated_in_one_decision():
    space = ToySpace()
    reward = ToyReward(space, seed=2)
    evolution = RegularizedEvolution(space, 1, population_size=8, sample_size=3)
    steps(evolution, reward, 8)
    for _ in range(20):
        replay = random.Random()
        replay.setstate(evolution.rng.getstate())
        contenders = replay.sample(evolution.population, 3)
        parent = max(contenders, key=lambda member: member["reward"])["genotype"]
        child = evolution.propose()
        assert sum(a != b for a, b in zip(space.encode(child), space.encode(parent))) == 1
        evolution.observe(child, reward(child))


# -- REINFORCE -------------------------------------------------------------------------------------------------

def test_controller_log_prob_is_the_product_of_its_step_probabilities():
    strategy = Reinforce(ToySpace([3, 2, 4]), 0, hidden_size=8, tanh_constant=2.5, temperature=5.0)
    controller = strategy.controller
    actions, log_prob, entropy = controller(generator=torch.Generator().manual_seed(0), batch=5)
    assert actions.shape == (5, 3) and (actions < torch.tensor([3, 2, 4])).all()
    rescored = controller(actions)
    for row in range(5):
        choices = actions[row].tolist()
        steps_p = [controller.probabilities(choices[:t]) for t in range(3)]
        expected = sum(math.log(p[c]) for p, c in zip(steps_p, choices))
        expected_entropy = sum(-(p * p.log()).sum().item() for p in steps_p)
        assert log_prob[row].item() == pytest.approx(expected, abs=1e-5)
        assert rescored[1][row].item() == pytest.approx(expected, abs=1e-5)
        assert entropy[row].item() == pytest.approx(expected_entropy, abs=1e-5)
        assert max(p.max().item() for p in steps_p) <= 1 / (1 + 2 * math.exp(-2 * 2.5)) + 1e-6  # tanh-bounded


def test_reinforce_baseline_is_a_moving_average_of_past_rewards_and_the_update_follows_the_advantage():
    strategy = Reinforce(ToySpace(), 0, hidden_size=16, baseline_decay=0.9)
    strategy.observe(strategy.propose(), 0.4)
    assert strategy.baseline == pytest.approx(0.4)  # the first reward has no past: no update signal
    for reward, above in ((0.9, True), (0.1, False)):
        genotype = strategy.propose()
        choices = torch.tensor([strategy.space.encode(genotype)])
        before = strategy.controller(choices)[1].item()
        baseline = strategy.baseline
        strategy.observe(genotype, reward)
        after = strategy.controller(choices)[1].item()
        assert (after > before) == above  # rewarded above the baseline: more likely; below: less
        assert strategy.baseline == pytest.approx(0.9 * baseline + 0.1 * reward)


def test_reinforce_raises_the_probability_of_a_rewarded_choice():
    strategy = Reinforce(ToySpace(), 0, hidden_size=16, lr=0.01)
    before = strategy.controller.probabilities()[2].item()
    for _ in range(60):
        genotype = strategy.propose()
        strategy.observe(genotype, 1.0 if genotype["choices"][0] == 2 else 0.0)
    after = strategy.controller.probabilities()[2].item()
    assert before == pytest.approx(0.25, abs=0.02) and after > 0.6


def test_evolution_and_reinforce_beat_random_search_on_the_toy_reward():
    budget, seeds = 150, (0, 1, 2)
    best = {}
    for name in ("random", "evolution", "reinforce"):
        found = []
        for seed in seeds:
            space = ToySpace()
            reward = ToyReward(space, seed=seed)
            found.append(max(reward.matches(g) for g in steps(STRATEGIES[name](space, seed), reward, budget)))
        best[name] = statistics.mean(found)
    # random search's best of 150 draws matches about 6 of 10 decisions; the others climb to about all 10
    assert best["random"] < 0.8
    assert best["evolution"] > best["random"] + 0.15 and best["reinforce"] > best["random"] + 0.15, best
