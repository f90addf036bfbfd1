"""CASIA-B's evaluation protocol: which subjects train, and which sequences are gallery and probes.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1

The subjects of a source, sorted by name, are split in two: the first ``train_subjects`` train
(every sequence of theirs); the others are tested, their first four normal walks (NM #1-4)
forming the gallery and the other walks the probes: NM #5-6, BG #1-2 (carrying a bag) and CL
#1-2 (in a coat). With CASIA-B's 124 subjects, 74 training subjects is the paper's large-sample
setting (LT; 24 and 62 are its small and medium ones). The generated walkers keep the same
gallery and probes with :data:`WALKERS_PROTOCOL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convzoo.data.gait.sequences import GaitSource
from convzoo.errors import ConvzooError

__all__ = ["CASIA_B_PROTOCOL", "GaitProtocol", "GaitSplit", "WALKERS_PROTOCOL", "protocol_for"]


def _paper_probes() -> dict[str, tuple[str, tuple[int, ...]]]:
    return {"NM": ("nm", (5, 6)), "BG": ("bg", (1, 2)), "CL": ("cl", (1, 2))}


@dataclass
class GaitSplit:
    """A source's sequences under a protocol, as indices into ``source.sequences``."""

    train: list[int]  # every sequence of the training subjects
    train_labels: list[int]  # 0..train_subjects-1, the subject's rank among the training subjects
    gallery: list[int]  # the test subjects' gallery sequences
    probes: dict[str, list[int]]  # "NM" | "BG" | "CL" -> the test subjects' probe sequences


@dataclass(frozen=True)
class GaitProtocol:
    """The first ``train_subjects`` subjects train; the rest are tested, gallery against each probe set.

    Args:
        train_subjects: how many subjects (the first, sorted by name) train.
        gallery: ``(condition, indices)`` of the gallery sequences.
        probes: probe name -> ``(condition, indices)``.
    """

    train_subjects: int
    gallery: tuple[str, tuple[int, ...]] = ("nm", (1, 2, 3, 4))
    probes: dict[str, tuple[str, tuple[int, ...]]] = field(default_factory=_paper_probes)

    def split(self, source: GaitSource) -> GaitSplit:
        """The training, gallery and probe sequences of ``source``.

        Raises:
            ConvzooError: ``source`` has no more than ``train_subjects`` subjects (none would be tested).
        """
        subjects = sorted({sequence.subject for sequence in source.sequences})
        if len(subjects) < self.train_subjects + 1:
            raise ConvzooError(f"{source.name} has {len(subjects)} subjects; the protocol trains on the first "
                               f"{self.train_subjects} and needs at least {self.train_subjects + 1}")
        label = {subject: rank for rank, subject in enumerate(subjects[:self.train_subjects])}
        train, train_labels, gallery = [], [], []
        probes: dict[str, list[int]] = {name: [] for name in self.probes}
        for i, sequence in enumerate(source.sequences):
            if sequence.subject in label:
                train.append(i)
                train_labels.append(label[sequence.subject])
                continue
            walk = (sequence.condition, sequence.index)
            if _holds(self.gallery, walk):
                gallery.append(i)
            for name, chosen in self.probes.items():
                if _holds(chosen, walk):
                    probes[name].append(i)
        return GaitSplit(train, train_labels, gallery, probes)


def _holds(chosen: tuple[str, tuple[int, ...]], walk: tuple[str, int]) -> bool:
    return walk[0] == chosen[0] and walk[1] in chosen[1]


CASIA_B_PROTOCOL = GaitProtocol(train_subjects=74)  # the paper's large-sample setting (LT): 74 train, 50 tested
WALKERS_PROTOCOL = GaitProtocol(train_subjects=24)  # of the 40 generated walkers: 24 train, 16 tested


def protocol_for(name: str) -> GaitProtocol:
    """The protocol of gait dataset ``name``: ``walkers`` or ``casia-b``."""
    protocols = {"walkers": WALKERS_PROTOCOL, "casia-b": CASIA_B_PROTOCOL}
    if name not in protocols:
        raise ConvzooError(f"unknown gait dataset {name!r}; expected one of {', '.join(protocols)}")
    return protocols[name]
