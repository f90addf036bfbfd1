"""A REINFORCE controller: an LSTM that emits the space's decisions one by one, trained by policy gradient.

Paper: Neural Architecture Search with Reinforcement Learning (Barret Zoph, Quoc V. Le, ICLR 2017)
https://arxiv.org/abs/1611.01578

The controller is a recurrent policy over the space's categorical decisions (``space.decisions()``): at step
``t`` it feeds the embedding of the choice it made at step ``t - 1`` (a learned start vector at ``t = 0``)
through an LSTM cell, a linear head of decision ``t`` turns the hidden state into logits, and the choice is
sampled from their softmax. An architecture ``a_{1:T}`` is thus drawn with probability
``P(a_{1:T}; theta) = prod_t P(a_t | a_{1:t-1}; theta)``, and its reward ``R`` (MnasNet's accuracy-latency
trade-off, or any other) trains the controller with REINFORCE, Eq. (2) and (3) of the paper::

    grad J(theta) ~ 1/m sum_k sum_t grad log P(a_t | a_{(t-1):1}; theta) (R_k - b)

over a batch of ``m`` sampled architectures, with ``b`` an exponential moving average of the previous rewards
(decay 0.95), the baseline that lowers the variance of the estimate without biasing it.

Options taken from ENAS (Pham, Guan, Zoph, Le, Dean, ICML 2018), whose controller is this one: logits divided
by a ``temperature`` and squashed by ``tanh_constant * tanh(.)``, which bounds every probability away from 0
and keeps the search exploring; an entropy bonus.

Deviations:
    - MnasNet (Tan et al., CVPR 2019) and NASNet train the same kind of controller with Proximal Policy
      Optimization; this is the plain REINFORCE of Zoph and Le, which needs no clipping ratio, no value
      function and no replay of old samples, and is what the issue asks for.
    - One LSTM layer of 64 units (Zoph and Le: two layers of 35; ENAS: one of 100). The spaces here have some
      tens of decisions, and a search on a CPU gives the controller a few hundred updates, not 12,800: a
      small controller learns in that many.
    - Adam at ``lr = 0.002`` (Zoph and Le: 0.0006; ENAS: 0.00035), for the same reason. Measured on the toy
      reward of the tests (10 decisions of 4 choices, 300 evaluations): at 0.0006 the policy starts to improve
      only after 100 to 150 updates, at 0.002 after about 50; at 0.005 it settled on a wrong choice in 3 of 4 seeds.
    - Parameters start uniform in [-0.08, 0.08] (Zoph and Le's initialisation), drawn from a generator seeded by
      the strategy's seed, never the global one; so does sampling. The entropy bonus is a loss term
      (``- entropy_weight * H``) rather than ENAS's entropy added to the reward.
    - One update every ``batch`` observations (default 1: after each candidate; Zoph and Le update from batches
      of ``m`` architectures trained in parallel; a CPU evaluates them one by one).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from convzoo.errors import ConvzooError
from convzoo.nas.space import SearchSpace
from convzoo.nas.strategies.base import Strategy

__all__ = ["Controller", "Reinforce"]

INIT_RANGE = 0.08  # Zoph and Le's uniform initialisation of the controller


class Controller(nn.Module):
    """An LSTM policy over a sequence of categorical decisions.

    Args:
        decisions: the number of choices of each decision, in order.
        hidden_size: units of the LSTM cell, the embeddings and the learned first input.
        temperature: logits are divided by it.
        tanh_constant: when set, logits become ``tanh_constant * tanh(logits / temperature)`` (ENAS).

    Shape:
        - actions: ``(B, T)`` choice indices, ``T = len(decisions)``.
        - log_prob, entropy: ``(B,)``, summed over the ``T`` decisions.
    """

    def __init__(self, decisions: Sequence[int], hidden_size: int = 64, temperature: float = 1.0,
                 tanh_constant: float | None = None) -> None:
        super().__init__()
        self.decisions = [int(n) for n in decisions]
        self.temperature, self.tanh_constant = temperature, tanh_constant
        self.start = nn.Parameter(torch.zeros(1, hidden_size))
        # one embedding table for all decisions; decision t's choices are rows offsets[t] : offsets[t] + n_t
        self.embedding = nn.Embedding(sum(self.decisions), hidden_size)
        self.register_buffer("offsets", torch.tensor([0, *self.decisions[:-1]]).cumsum(0), persistent=False)
        self.cell = nn.LSTMCell(hidden_size, hidden_size)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.decisions)

    def logits(self, hidden: Tensor, step: int) -> Tensor:
        logits = self.heads[step](hidden) / self.temperature  # (B, n_t)
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def forward(self, actions: Tensor | None = None, generator: torch.Generator | None = None,
                batch: int = 1) -> tuple[Tensor, Tensor, Tensor]:
        """Sample ``batch`` sequences (``actions`` None, drawing from ``generator``), or score given ``actions``.

        Returns the actions ``(B, T)``, their log-probabilities ``(B,)`` and the policy's entropies ``(B,)``.
        """
        batch = batch if actions is None else actions.shape[0]
        inputs = self.start.expand(batch, -1)  # (B, H): the learned input of the first step
        state = (torch.zeros_like(inputs), torch.zeros_like(inputs))
        chosen, log_prob, entropy = [], inputs.new_zeros(batch), inputs.new_zeros(batch)
        for step in range(len(self.decisions)):
            state = self.cell(inputs, state)
            log_p = F.log_softmax(self.logits(state[0], step), dim=-1)  # (B, n_t)
            if actions is None:
                action = torch.multinomial(log_p.exp(), 1, generator=generator).squeeze(1)  # (B,)
            else:
                action = actions[:, step]
            log_prob = log_prob + log_p.gather(1, action[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(-1)
            inputs = self.embedding(action + self.offsets[step])  # (B, H)
            chosen.append(action)
        return torch.stack(chosen, 1), log_prob, entropy

    def probabilities(self, prefix: Sequence[int] = ()) -> Tensor:
        """The policy's probabilities of decision ``len(prefix)`` after the choices ``prefix``: ``(n_t,)``."""
        with torch.no_grad():
            inputs = self.start
            state = (torch.zeros_like(inputs), torch.zeros_like(inputs))
            for step, choice in enumerate([*prefix, None]):
                state = self.cell(inputs, state)
                if choice is None:
                    return F.softmax(self.logits(state[0], step), dim=-1)[0]
                inputs = self.embedding(torch.tensor([choice]) + self.offsets[step])


class Reinforce(Strategy):
    """Zoph and Le's REINFORCE controller with a moving-average baseline.

    Args:
        space: the search space (its :meth:`~convzoo.nas.space.SearchSpace.decisions` and
            :meth:`~convzoo.nas.space.SearchSpace.decode`).
        seed: seeds the controller's initial weights and its sampling.
        lr: Adam's learning rate.
        hidden_size: units of the controller's LSTM.
        baseline_decay: decay of the baseline's exponential moving average.
        entropy_weight: weight of the entropy bonus (0: none).
        batch: observations per policy-gradient update.
        temperature, tanh_constant: shape the logits (:class:`Controller`).
    """

    name = "reinforce"

    def __init__(self, space: SearchSpace, seed: int, *, lr: float = 0.002, hidden_size: int = 64,
                 baseline_decay: float = 0.95, entropy_weight: float = 0.0, batch: int = 1,
                 temperature: float = 1.0, tanh_constant: float | None = None) -> None:
        super().__init__(space, seed)
        bad = [f"{option}={value}" for option, value, good in (
            ("lr", lr, lr > 0), ("hidden_size", hidden_size, hidden_size >= 1),
            ("baseline_decay", baseline_decay, 0 <= baseline_decay < 1),
            ("entropy_weight", entropy_weight, entropy_weight >= 0), ("batch", batch, batch >= 1),
            ("temperature", temperature, temperature > 0),
            ("tanh_constant", tanh_constant, tanh_constant is None or tanh_constant > 0)) if not good]
        if bad:
            raise ConvzooError(f"reinforce: expected lr, hidden_size, batch, temperature, tanh_constant > 0, "
                               f"baseline_decay in [0, 1), entropy_weight >= 0; got {', '.join(bad)}")
        self.baseline_decay, self.entropy_weight, self.batch = float(baseline_decay), float(entropy_weight), int(batch)
        self.generator = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):  # the modules' default initialisation draws from the global RNG
            self.controller = Controller(space.decisions(), hidden_size, temperature, tanh_constant)
        for parameter in self.controller.parameters():
            nn.init.uniform_(parameter, -INIT_RANGE, INIT_RANGE, generator=self.generator)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.baseline: float | None = None
        self.buffer: list[tuple[list[int], float]] = []  # (choices, reward) since the last update
        self.pending_choices: list[int] | None = None

    def _propose(self) -> dict[str, Any]:
        with torch.no_grad():
            actions, _, _ = self.controller(generator=self.generator)
        self.pending_choices = actions[0].tolist()
        return self.space.decode(self.pending_choices)

    def _observe(self, genotype: dict[str, Any], reward: float) -> None:
        self.buffer.append((self.pending_choices, reward))
        self.pending_choices = None
        if len(self.buffer) == self.batch:
            self.update()

    def update(self) -> None:
        """One policy-gradient step from the buffered samples, Eq. (3); the baseline then takes their rewards."""
        choices = torch.tensor([sample for sample, _ in self.buffer])  # (m, T)
        rewards = torch.tensor([reward for _, reward in self.buffer])  # (m,)
        baseline = rewards.mean().item() if self.baseline is None else self.baseline  # no past rewards yet
        _, log_prob, entropy = self.controller(choices)
        loss = -((rewards - baseline) * log_prob).mean() - self.entropy_weight * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        for reward in rewards.tolist():
            baseline = self.baseline_decay * baseline + (1 - self.baseline_decay) * reward
        self.baseline = baseline
        self.buffer = []

    def state_dict(self) -> dict[str, Any]:
        optimizer = self.optimizer.state_dict()
        return {**super().state_dict(), "generator": self.generator.get_state(),
                "controller": self.controller.state_dict(),
                # the state file keeps integer dict keys as strings, so the optimiser's state goes as a list
                "optimizer": {"state": [[key, value] for key, value in optimizer["state"].items()],
                              "param_groups": optimizer["param_groups"]},
                "baseline": self.baseline, "buffer": [[choices, reward] for choices, reward in self.buffer],
                "pending_choices": self.pending_choices}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.generator.set_state(state["generator"])
        self.controller.load_state_dict(state["controller"])
        optimizer = state["optimizer"]
        self.optimizer.load_state_dict({"state": {int(key): value for key, value in optimizer["state"]},
                                        "param_groups": [dict(group) for group in optimizer["param_groups"]]})
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
        self.buffer = [([int(c) for c in choices], float(reward)) for choices, reward in state["buffer"]]
        pending = state["pending_choices"]
        self.pending_choices = None if pending is None else [int(c) for c in pending]

