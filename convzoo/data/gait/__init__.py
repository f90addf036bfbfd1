"""Gait data: sequences of silhouettes, each a subject walking in a condition seen from a view.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186

- :mod:`~convzoo.data.gait.sequences`: CASIA-B's views and conditions, :class:`GaitSequence`
  and what a :class:`GaitSource` gives (sorted sequences, uint8 64x44 frames read lazily);
- :mod:`~convzoo.data.gait.walkers`: the embedded default, generated walkers (a parametric
  walking body per subject, drawn from 11 views, normal, with a bag, in a coat; seeded);
- :mod:`~convzoo.data.gait.casia_b`: CASIA-B's tree of PNG silhouettes (``--data-dir``);
- :mod:`~convzoo.data.gait.preprocess`: the standard crop, scale and centring to 64x44;
- :mod:`~convzoo.data.gait.protocol`: training subjects, gallery and probes (NM, BG, CL);
- :mod:`~convzoo.data.gait.sets`: sequences as sets of frames for a data loader.
"""

from __future__ import annotations

from pathlib import Path

from convzoo.data.gait.casia_b import CasiaB
from convzoo.data.gait.preprocess import preprocess_silhouette
from convzoo.data.gait.protocol import CASIA_B_PROTOCOL, WALKERS_PROTOCOL, GaitProtocol, GaitSplit, protocol_for
from convzoo.data.gait.sequences import CONDITIONS, VIEWS, GaitSequence, GaitSource
from convzoo.data.gait.sets import SilhouetteSets
from convzoo.data.gait.walkers import GeneratedWalkers
from convzoo.data.names import GAIT_DATASETS
from convzoo.errors import ConvzooError

__all__ = ["CASIA_B_PROTOCOL", "CONDITIONS", "GAIT_DATASETS", "VIEWS", "WALKERS_PROTOCOL", "CasiaB", "GaitProtocol",
           "GaitSequence", "GaitSource", "GaitSplit", "GeneratedWalkers", "SilhouetteSets", "load_gait_source",
           "preprocess_silhouette", "protocol_for"]


def load_gait_source(name: str, data_dir: str | Path | None = None, seed: int = 0) -> GaitSource:
    """Gait dataset ``name``: ``walkers`` (generated with ``seed``; ``data_dir`` unused) or ``casia-b`` (``data_dir``).

    Raises:
        ConvzooError: an unknown name, or ``casia-b`` without ``data_dir`` or with no sequence under it.
    """
    if name == "walkers":
        return GeneratedWalkers(seed=seed)
    if name == "casia-b":
        if data_dir is None:
            raise ConvzooError("--dataset casia-b needs --data-dir: the folder of CASIA-B's subject folders "
                               "(001/nm-01/090/*.png)")
        return CasiaB(data_dir)
    raise ConvzooError(f"unknown gait dataset {name!r}; expected one of {', '.join(GAIT_DATASETS)}")
