"""N-way one-shot classification: pick which of N examples, one per unseen class, shows the query's class.

Koch, Zemel and Salakhutdinov ("Siamese Neural Networks for One-shot Image Recognition",
ICML Deep Learning Workshop 2015) judge a network trained to compare by how it
generalises to classes it has never seen: in each trial a query image is compared with
one example of each of N classes, one of them the query's own class (a different image
of it), and the network's prediction is the example it finds most alike. The accuracy
over trials is reported for N = 5 and 20 (20-way on Omniglot's evaluation alphabets in
the paper); chance is ``1 / N``.

The trials are drawn from the test split's labels alone, by a seeded generator, so the
same labels, N, number of trials and seed always give the same trials, whatever network
is scored on them: networks are compared on identical trials. The prediction is the
support example nearest to the query in embedding space, or, for a network that scores
pairs (Koch's network ends in a learned weighted L1 distance and a sigmoid), the one with
the highest pair score.

Deviations: Koch draws the 20 classes of a trial from one alphabet, by drawers; here the
N classes are drawn uniformly from the classes that have at least two examples (so any
of them can be the query's class), and the query's class is a uniform choice among them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from convzoo.errors import ConvzooError

__all__ = ["ONE_SHOT_WAYS", "OneShotTrials", "one_shot_accuracy", "one_shot_scores", "one_shot_trials"]

ONE_SHOT_WAYS = (5, 20)  # the N of Koch's N-way one-shot tasks
PAIRS_PER_CALL = 8192  # query-support pairs given to a pair-scoring network at once

PairScore = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class OneShotTrials:
    """A list of N-way one-shot trials over the items of one split.

    Attributes:
        query: ``(T,)`` item index of each trial's query.
        supports: ``(T, N)`` item indices of each trial's support examples, one per class,
            none of them the query.
        correct: ``(T,)`` position in ``supports`` of the example of the query's class.
    """

    query: torch.Tensor
    supports: torch.Tensor
    correct: torch.Tensor

    @property
    def n_way(self) -> int:
        return self.supports.shape[1]

    def __len__(self) -> int:
        return len(self.query)


def one_shot_trials(labels: torch.Tensor | Sequence[int], n_way: int, trials: int, seed: int = 0) -> OneShotTrials:
    """Draw ``trials`` N-way one-shot trials from the labels of a split.

    Each trial draws ``n_way`` distinct classes among those with at least two items, one of
    them (uniformly) the query's; the query is a random item of its class and that class's
    support a different random item of it; each other class gives one random item. A
    function of ``labels``, ``n_way``, ``trials`` and ``seed`` only.

    Raises:
        ConvzooError: fewer than ``n_way`` classes have two or more items.
    """
    labels = torch.as_tensor(labels).cpu()
    if labels.dim() != 1:
        raise ConvzooError(f"one-shot trials expect (N,) labels, got shape {tuple(labels.shape)}")
    if n_way < 2 or trials < 1:
        raise ConvzooError(f"one-shot trials need N >= 2 ways and at least one trial; got N = {n_way}, "
                           f"{trials} trials")
    _, class_index, class_sizes = torch.unique(labels, return_inverse=True, return_counts=True)
    eligible = torch.nonzero(class_sizes >= 2).squeeze(1)
    if len(eligible) < n_way:
        raise ConvzooError(f"{n_way}-way one-shot trials need {n_way} classes with two or more items; "
                           f"the labels have {len(eligible)}")
    members = torch.argsort(class_index, stable=True)  # items grouped by class, in index order
    first_member = torch.cumsum(class_sizes, 0) - class_sizes

    generator = torch.Generator().manual_seed(seed)
    classes = torch.stack([eligible[torch.randperm(len(eligible), generator=generator)[:n_way]]
                           for _ in range(trials)])  # (T, N)
    correct = torch.randint(n_way, (trials,), generator=generator)
    sizes = class_sizes[classes]  # (T, N)
    picks = _uniform_below(sizes, generator)  # (T, N): the support's rank within its class
    rows = torch.arange(trials)
    query_class, support_pick = classes[rows, correct], picks[rows, correct]
    query_pick = _uniform_below(class_sizes[query_class] - 1, generator)  # any member but the support
    query_pick += (query_pick >= support_pick).long()
    return OneShotTrials(query=members[first_member[query_class] + query_pick],
                         supports=members[first_member[classes] + picks], correct=correct)


def _uniform_below(bounds: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A uniform integer in ``[0, bound)`` for every element of ``bounds``."""
    draws = torch.rand(bounds.shape, generator=generator, dtype=torch.float64)
    return torch.minimum((draws * bounds).long(), bounds - 1)


def _pair_scores(embeddings: torch.Tensor | None, trials: OneShotTrials,
                 score: PairScore | torch.Tensor | None) -> torch.Tensor:
    """``(T, N)`` how alike each trial's query and each support are (higher: more alike)."""
    if isinstance(score, torch.Tensor):
        if score.shape != trials.supports.shape:
            raise ConvzooError(f"precomputed one-shot scores must be (trials, N) = {tuple(trials.supports.shape)}, "
                               f"got {tuple(score.shape)}")
        return score
    if embeddings is None:
        raise ConvzooError("one-shot accuracy needs embeddings unless precomputed scores are given")
    queries = embeddings[trials.query].unsqueeze(1).expand(-1, trials.n_way, -1)  # (T, N, D)
    supports = embeddings[trials.supports]  # (T, N, D)
    if score is None:
        return -(queries - supports).pow(2).sum(dim=2)  # nearest = highest
    flat_queries, flat_supports = queries.reshape(-1, embeddings.shape[1]), supports.reshape(-1, embeddings.shape[1])
    scores = [score(flat_queries[start:start + PAIRS_PER_CALL], flat_supports[start:start + PAIRS_PER_CALL])
              for start in range(0, len(flat_queries), PAIRS_PER_CALL)]
    return torch.cat([chunk.reshape(-1) for chunk in scores]).view(len(trials), trials.n_way)


def one_shot_accuracy(embeddings: torch.Tensor | None, trials: OneShotTrials,
                      score: PairScore | torch.Tensor | None = None) -> float:
    """Share of trials whose prediction is the support of the query's class.

    Args:
        embeddings: ``(items, D)`` embeddings of the split the trials index.
        trials: from :func:`one_shot_trials`.
        score: how alike a query and a support are, higher meaning more alike:
            ``None``: minus their Euclidean distance (the prediction is the nearest support);
            a callable ``score(query_embeddings, support_embeddings)`` on ``(P, D)`` rows
            giving ``(P,)`` or ``(P, 1)`` scores (a network that scores pairs); or a
            precomputed ``(T, N)`` tensor, in which case ``embeddings`` may be ``None``.
            A tie goes to the first support in the trial's order.
    """
    with torch.no_grad():
        scores = _pair_scores(embeddings, trials, score)
    predicted = scores.argmax(dim=1).cpu()
    return float((predicted == trials.correct).double().mean())


def one_shot_scores(embeddings: torch.Tensor, labels: torch.Tensor | Sequence[int], *,
                    ways: Sequence[int] = ONE_SHOT_WAYS, trials: int = 1000, seed: int = 0,
                    score: PairScore | None = None) -> dict[str, float]:
    """``{"one_shot@5": ..., "one_shot@20": ...}``: N-way one-shot accuracy on fresh trials for each N in ``ways``."""
    return {f"one_shot@{n_way}": one_shot_accuracy(embeddings, one_shot_trials(labels, n_way, trials, seed), score)
            for n_way in ways}
