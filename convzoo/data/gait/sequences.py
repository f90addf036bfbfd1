"""Gait sequences: who walks, in which condition, seen from which view; and what a source of them gives.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1

CASIA-B (Yu, Tan, Tan, ICPR 2006) filmed each of its 124 subjects walking ten times: six times
normally (``nm-01`` .. ``nm-06``), twice carrying a bag (``bg-01``, ``bg-02``) and twice in a coat
(``cl-01``, ``cl-02``), each walk from eleven views 0, 18, ..., 180 degrees: 110 sequences per
subject. A :class:`GaitSource` is any collection of such sequences whose frames are preprocessed
64x44 silhouettes (:func:`~convzoo.data.gait.preprocess.preprocess_silhouette`): CASIA-B's tree
(:class:`~convzoo.data.gait.casia_b.CasiaB`) or the generated walkers
(:class:`~convzoo.data.gait.walkers.GeneratedWalkers`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np

__all__ = ["CONDITIONS", "VIEWS", "GaitSequence", "GaitSource", "SequenceCache", "type_index"]

VIEWS = tuple(range(0, 181, 18))  # CASIA-B's 11 camera views, degrees (90: the walker seen side-on)
CONDITIONS = {"nm": 6, "bg": 2, "cl": 2}  # sequences per subject and view: nm-01..06, bg-01..02, cl-01..02


def type_index(condition: str, index: int) -> str:
    """CASIA-B's folder name of a walk: ``("nm", 1)`` -> ``"nm-01"``."""
    return f"{condition}-{index:02d}"


@dataclass(frozen=True, order=True)
class GaitSequence:
    """One walk of one subject seen from one view (ordered by subject, condition, index, view)."""

    subject: str  # "001"
    condition: str  # "nm" | "bg" | "cl"
    index: int  # 1..6 (nm), 1..2 (bg, cl)
    view: int  # degrees, one of VIEWS for CASIA-B

    @property
    def name(self) -> str:
        """The sequence's folder relative to a CASIA-B root, ``"001/nm-01/090"``."""
        return f"{self.subject}/{type_index(self.condition, self.index)}/{self.view:03d}"


@runtime_checkable
class GaitSource(Protocol):
    """Sequences of silhouettes: their list (sorted) and the frames of each, read when asked."""

    name: str  # "walkers" | "casia-b"
    sequences: list[GaitSequence]  # sorted by (subject, condition, index, view)

    def frames(self, i: int) -> np.ndarray:
        """The frames of ``sequences[i]``: uint8 ``(T, 64, 44)``, ``T >= 1``, silhouette 255 on 0."""
        ...


class SequenceCache:
    """The frames of the last ``size`` sequences read, made read-only; the least recently read dropped first."""

    def __init__(self, load: Callable[[int], np.ndarray], size: int) -> None:
        self.load, self.size = load, size
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def __call__(self, i: int) -> np.ndarray:
        if i in self._frames:
            self._frames.move_to_end(i)
            return self._frames[i]
        frames = self.load(i)
        frames.setflags(write=False)
        if self.size > 0:
            self._frames[i] = frames
            if len(self._frames) > self.size:
                self._frames.popitem(last=False)
        return frames
