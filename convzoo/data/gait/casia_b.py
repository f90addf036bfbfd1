"""CASIA-B's silhouettes, read from the tree the dataset is distributed in.

Paper: Yu, Tan, Tan: A Framework for Evaluating the Effect of View Angle, Clothing and Carrying
Condition on Gait Recognition (ICPR 2006); as used by GaitSet (Chao, He, Zhang, Feng, AAAI
2019) https://arxiv.org/abs/1811.06186

Layout (``GaitDatasetB-silh.zip`` extracted, one PNG per frame)::

    root/<subject>/<type>-<index>/<view>/<subject>-<type>-<index>-<view>-<frame>.png
    root/001/nm-01/090/001-nm-01-090-001.png

with subjects ``001`` .. ``124``, types ``nm`` (01-06), ``bg`` (01-02) and ``cl`` (01-02), views
``000`` .. ``180`` in steps of 18. Folders of other names are ignored, and so are sequence
folders holding no PNG (CASIA-B has a few; the GaitSet release skipped them too). Frames are
read when their sequence is read, in the order of their file names, each through
:func:`~convzoo.data.gait.preprocess.preprocess_silhouette` (a 64x44 frame, already
preprocessed, passes unchanged); empty frames are dropped. The last :data:`CACHE_SEQUENCES`
sequences read are kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from convzoo.data.gait.preprocess import preprocess_silhouette
from convzoo.data.gait.sequences import CONDITIONS, GaitSequence, SequenceCache
from convzoo.errors import ConvzooError

__all__ = ["CACHE_SEQUENCES", "CasiaB", "read_silhouette"]

CACHE_SEQUENCES = 128  # CASIA-B sequences kept after reading (about 100 frames, 280 KB each)
_TYPE_INDEX = re.compile(r"^(nm|bg|cl)-(\d{2})$")
_VIEW = re.compile(r"^\d{3}$")


def _folders(path: Path) -> list[os.DirEntry]:
    return sorted((entry for entry in os.scandir(path) if entry.is_dir()), key=lambda entry: entry.name)


def read_silhouette(path: str | os.PathLike) -> np.ndarray:
    """One PNG frame as a gray uint8 ``(H, W)`` array."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ConvzooError(f"cannot read the silhouette {path}: {error}") from None


class CasiaB:
    """CASIA-B's silhouette tree as a gait source (module docstring).

    Args:
        root: the folder of the subject folders.

    Raises:
        ConvzooError: ``root`` missing, or no ``subject/type-index/view`` folder with PNGs under it; when a
            sequence is read, an unreadable PNG or a sequence whose frames are all empty.
    """

    name = "casia-b"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConvzooError(f"CASIA-B root {self.root} is not a folder (expected root/001/nm-01/090/*.png)")
        found: list[tuple[GaitSequence, list[str]]] = []
        for subject in _folders(self.root):
            for kind in _folders(Path(subject.path)):
                match = _TYPE_INDEX.match(kind.name)
                if match is None:
                    continue
                condition, index = match.group(1), int(match.group(2))
                for view in _folders(Path(kind.path)):
                    if _VIEW.match(view.name) is None:
                        continue
                    pngs = sorted(name for name in os.listdir(view.path) if name.lower().endswith(".png"))
                    if pngs:
                        found.append((GaitSequence(subject.name, condition, index, int(view.name)), pngs))
        if not found:
            raise ConvzooError(f"no CASIA-B sequence under {self.root}: expected folders subject/type-index/view "
                               f"holding PNG frames, such as {self.root / '001' / 'nm-01' / '090'}, with types "
                               f"{', '.join(CONDITIONS)}")
        found.sort(key=lambda item: item[0])
        self.sequences = [sequence for sequence, _ in found]
        self._files = [files for _, files in found]
        self._cache = SequenceCache(self._read, CACHE_SEQUENCES)

    def __len__(self) -> int:
        return len(self.sequences)

    def folder(self, i: int) -> Path:
        """The folder of ``sequences[i]``."""
        return self.root / self.sequences[i].name

    def frames(self, i: int) -> np.ndarray:
        """The preprocessed frames of ``sequences[i]``: uint8 ``(T, 64, 44)`` (read-only)."""
        return self._cache(i)

    def _read(self, i: int) -> np.ndarray:
        folder = self.folder(i)
        frames = [preprocess_silhouette(read_silhouette(folder / name)) for name in self._files[i]]
        kept = [frame for frame in frames if frame is not None]
        if not kept:
            raise ConvzooError(f"every frame of the CASIA-B sequence {folder} is empty ({len(frames)} PNGs with no "
                               "silhouette)")
        return np.stack(kept)
