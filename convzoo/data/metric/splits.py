"""Metric-learning splits: classes seen in training, and classes never seen for evaluation.

A network that learns to compare is judged on classes it never saw: verification,
retrieval and N-way one-shot accuracy all use images of unseen classes (Koch, Zemel and
Salakhutdinov 2015 train on one set of Omniglot alphabets and test on others). A
:class:`MetricSplits` holds such a split: ``train`` holds the seen classes; ``val`` and
``test`` hold the unseen ones.

:func:`class_split` makes one from any classification dataset convzoo loads
(:func:`convzoo.data.load_dataset`): it merges the dataset's own train, validation and
test splits, gives every image of the seen classes to ``train``, and divides the images of
the unseen classes in half, per class and with a fixed seed, between ``val`` (where the
decision threshold and the model are chosen) and ``test``. Both evaluation splits thus
hold the same unseen classes, with different images.

Normalisation: in-memory datasets (digits, MNIST, Fashion-MNIST, CIFAR) are normalised
again with the per-channel mean and standard deviation of the seen classes' images alone,
so nothing about the unseen classes leaks into training; the dataset's batched
augmentation is kept, working in its original normalisation. Image folders keep their
per-image transforms and ImageNet's fixed statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, TensorDataset

from convzoo.data.folder import ImageFileDataset
from convzoo.data.splits import SPLIT_SEED, ImageSplits
from convzoo.errors import ConvzooError

__all__ = ["MetricSplits", "Renormalised", "class_split", "resolve_train_classes", "split_unseen"]


@dataclass
class MetricSplits:
    """Train, validation and test splits of a metric-learning dataset.

    Labels are global: label ``i`` is ``class_names[i]`` in every split, and the
    classes of ``val`` and ``test`` never occur in ``train``.

    Attributes:
        name: dataset name as the command line spells it.
        train, val, test: datasets yielding ``(image, label)``; images normalised.
        train_labels, val_labels, test_labels: ``int64`` labels of each split, in the
            datasets' order (for the P x K batch sampler, verification pairs and
            one-shot trials).
        class_names: names of all classes, seen and unseen.
        mean, std: per-channel normalisation applied to images in [0, 1].
        augment: the training augmentation, applied to whole batches, or ``None``.
        native_size: the side of the dataset's own images, where there is a useful one.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    train_labels: torch.Tensor
    val_labels: torch.Tensor
    test_labels: torch.Tensor
    class_names: list[str]
    mean: list[float]
    std: list[float]
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None
    native_size: int | None = None

    def _names(self, labels: torch.Tensor) -> list[str]:
        return [self.class_names[label] for label in torch.unique(labels).tolist()]

    @property
    def train_classes(self) -> list[str]:
        """Names of the classes seen in training, in label order."""
        return self._names(self.train_labels)

    @property
    def val_classes(self) -> list[str]:
        """Names of the (unseen) classes of the validation split, in label order."""
        return self._names(self.val_labels)

    @property
    def test_classes(self) -> list[str]:
        """Names of the (unseen) classes of the test split, in label order."""
        return self._names(self.test_labels)


class Renormalised:
    """A batched augmentation written for one normalisation, applied in another.

    ``images = (old - shift) / scale`` per channel: the images are mapped back to the
    normalisation ``augment`` was built for (its fill value is the old background), and
    the result forward again.
    """

    def __init__(
        self, augment: Callable[[torch.Tensor], torch.Tensor], shift: torch.Tensor, scale: torch.Tensor
    ) -> None:
        self.augment = augment
        self.shift = shift.view(1, -1, 1, 1)
        self.scale = scale.view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        shift, scale = self.shift.to(images), self.scale.to(images)
        return (self.augment(images * scale + shift) - shift) / scale

    def __repr__(self) -> str:
        return f"Renormalised({self.augment!r})"


def resolve_train_classes(train_classes: Sequence[int | str] | None, class_names: Sequence[str]) -> list[int]:
    """The sorted labels of the seen classes: the first half by default.

    ``train_classes`` may name classes by label or by name; at least one class must be
    seen and at least two left unseen (a verification pair and a one-shot trial need two).
    """
    count = len(class_names)
    if train_classes is None:
        chosen = list(range(count // 2))
    else:
        chosen = []
        for item in train_classes:
            if isinstance(item, str):
                if item not in class_names:
                    raise ConvzooError(f"unknown class {item!r} in train_classes; classes: {', '.join(class_names)}")
                chosen.append(list(class_names).index(item))
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item < count:
                chosen.append(item)
            else:
                raise ConvzooError(f"train class {item!r} is not a class name or a label in 0..{count - 1}")
    chosen = sorted(set(chosen))
    if not chosen or count - len(chosen) < 2:
        raise ConvzooError(
            f"train_classes must keep at least 1 of the {count} classes for training and leave at least 2 "
            f"unseen for evaluation; got {len(chosen)} for training"
        )
    return chosen


def split_unseen(labels: torch.Tensor, seed: int = SPLIT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions of a seeded, stratified half split of ``labels`` into validation and test.

    Each class's images are shuffled and divided in two; of an odd count the test split
    gets the extra image. The seed is fixed, not the training seed, so every run is
    scored on the same images.
    """
    generator = torch.Generator().manual_seed(seed)
    val_parts, test_parts = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        half = len(members) // 2
        val_parts.append(members[:half])
        test_parts.append(members[half:])
    return torch.cat(val_parts).sort().values, torch.cat(test_parts).sort().values


def _parts(splits: ImageSplits) -> list[Dataset]:
    """The dataset's splits, each once (an image folder without test/ reuses val as test)."""
    return [splits.train, splits.val] + ([] if splits.test is splits.val else [splits.test])


def _split_tensors(splits: ImageSplits, seen: list[int], name: str) -> MetricSplits:
    """Class split of in-memory ``TensorDataset`` s, normalised again on the seen classes."""
    parts = _parts(splits)
    images = torch.cat([part.tensors[0] for part in parts])  # (N, C, S, S), a fresh copy
    labels = torch.cat([part.tensors[1] for part in parts])
    is_seen = torch.isin(labels, torch.tensor(seen))
    train = torch.nonzero(is_seen).flatten()
    unseen = torch.nonzero(~is_seen).flatten()
    val_positions, test_positions = split_unseen(labels[unseen])
    val, test = unseen[val_positions], unseen[test_positions]

    # Standardise with the seen classes' statistics, in the dataset's current normalisation;
    # in [0, 1] pixels they are mean = old_mean + old_std * shift and std = old_std * scale.
    shift = images[train].mean(dim=(0, 2, 3))
    scale = images[train].std(dim=(0, 2, 3)).clamp_min(1e-6)
    images.sub_(shift.view(1, -1, 1, 1)).div_(scale.view(1, -1, 1, 1))
    old_mean, old_std = torch.tensor(splits.mean), torch.tensor(splits.std)
    mean, std = old_mean + old_std * shift, old_std * scale
    return MetricSplits(
        name=name,
        train=TensorDataset(images[train], labels[train]),
        val=TensorDataset(images[val], labels[val]),
        test=TensorDataset(images[test], labels[test]),
        train_labels=labels[train],
        val_labels=labels[val],
        test_labels=labels[test],
        class_names=list(splits.class_names),
        mean=mean.tolist(),
        std=std.tolist(),
        augment=Renormalised(splits.augment, shift, scale) if splits.augment is not None else None,
        native_size=splits.native_size,
    )


def _split_files(splits: ImageSplits, seen: list[int], name: str) -> MetricSplits:
    """Class split of image folders: seen images take the training transform, unseen the evaluation one."""
    samples = [sample for part in _parts(splits) for sample in part.samples]
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    is_seen = torch.isin(labels, torch.tensor(seen))
    unseen = torch.nonzero(~is_seen).flatten()
    val_positions, test_positions = split_unseen(labels[unseen])
    train_transform, eval_transform = splits.train.transform, splits.val.transform
    mode, classes = splits.train.mode, list(splits.class_names)

    def subset(indices: torch.Tensor, transform: Callable) -> ImageFileDataset:
        return ImageFileDataset([samples[i] for i in indices.tolist()], classes, transform, mode)

    train = torch.nonzero(is_seen).flatten()
    val, test = unseen[val_positions], unseen[test_positions]
    return MetricSplits(
        name=name,
        train=subset(train, train_transform),
        val=subset(val, eval_transform),
        test=subset(test, eval_transform),
        train_labels=labels[train],
        val_labels=labels[val],
        test_labels=labels[test],
        class_names=classes,
        mean=list(splits.mean),
        std=list(splits.std),
        augment=splits.augment,
        native_size=splits.native_size,
    )


def class_split(
    splits: ImageSplits,
    train_classes: Sequence[int | str] | None = None,
    *,
    name: str | None = None,
) -> MetricSplits:
    """Divide a classification dataset by class into seen (train) and unseen (val, test) classes.

    Args:
        splits: a dataset as :func:`convzoo.data.load_dataset` gives it.
        train_classes: the seen classes, by label or name; by default the first half of
            the classes (digits: 0-4).
        name: the name of the result; by default the dataset's.
    """
    seen = resolve_train_classes(train_classes, splits.class_names)
    name = name or splits.name
    parts = _parts(splits)
    if all(isinstance(part, TensorDataset) for part in parts):
        return _split_tensors(splits, seen, name)
    if all(isinstance(part, ImageFileDataset) for part in parts):
        return _split_files(splits, seen, name)
    raise ConvzooError(
        f"cannot split dataset {splits.name!r} by class: its splits are neither in-memory tensors nor image files"
    )
