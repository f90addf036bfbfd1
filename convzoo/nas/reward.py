"""MnasNet's multi-objective reward: accuracy traded against measured latency, or a plain budget.

Paper: MnasNet: Platform-Aware Neural Architecture Search for Mobile (Mingxing Tan, Bo Chen, Ruoming Pang,
Vijay Vasudevan, Mark Sandler, Andrew Howard, Quoc V. Le, CVPR 2019) https://arxiv.org/abs/1807.11626

Eq. (2) of the paper scores a model ``m`` by ``ACC(m) x (LAT(m) / T)^w`` with ``w = alpha`` when
``LAT(m) <= T`` and ``w = beta`` otherwise:

- the *soft* constraint, ``alpha = beta = -0.07``: a model twice as slow must be about 5% more accurate to
  score the same (``2^-0.07 = 0.952``), so the search trades accuracy against latency on both sides of the
  target, and finds a Pareto front rather than one point;
- the *hard* constraint, ``alpha = 0, beta = -1``: accuracy alone under the target, a steep penalty above it.

The same form works on any cost, so :class:`Reward` scores MACs or parameters too; ``budget`` is a plain
budget: the accuracy when the cost is within the target, zero above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from convzoo.errors import ConvzooError

__all__ = ["FORMS", "OBJECTIVES", "Reward", "SOFT_EXPONENT"]

SOFT_EXPONENT = -0.07  # MnasNet's alpha = beta for the soft constraint
FORMS = ("soft", "hard", "budget")
OBJECTIVES = ("latency", "macs", "params")  # the cost each record holds as latency_ms, macs, params


@dataclass(frozen=True)
class Reward:
    """``accuracy x (cost / target)^w`` (Eq. 2) for the ``soft`` and ``hard`` forms; ``budget`` is
    ``accuracy`` within the target and 0 above it.

    Attributes:
        objective: the cost: ``"latency"`` (milliseconds), ``"macs"`` or ``"params"``.
        target: ``T``, in the cost's unit.
        form: ``"soft"`` (``w = exponent`` on both sides), ``"hard"`` (``w = 0`` within, ``-1`` above) or ``"budget"``.
        exponent: the soft form's ``w`` (MnasNet's -0.07).
    """

    objective: str = "latency"
    target: float = 1.0
    form: str = "soft"
    exponent: float = SOFT_EXPONENT

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConvzooError(f"unknown objective {self.objective!r}; expected one of {', '.join(OBJECTIVES)}")
        if self.form not in FORMS:
            raise ConvzooError(f"unknown reward form {self.form!r}; expected one of {', '.join(FORMS)}")
        if not self.target > 0:
            raise ConvzooError(f"the reward's target must be positive, got {self.target}")

    def cost(self, record: dict) -> float:
        """The record's cost in this reward's objective."""
        return float(record["latency_ms" if self.objective == "latency" else self.objective])

    def __call__(self, accuracy: float, cost: float) -> float:
        within = cost <= self.target
        if self.form == "budget":
            return accuracy if within else 0.0
        if self.form == "hard":
            exponent = 0.0 if within else -1.0
        else:
            exponent = self.exponent
        return accuracy * (cost / self.target) ** exponent
