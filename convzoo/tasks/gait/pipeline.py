"""The gait pipeline of a training run: sets of silhouettes in P x K batches, GaitSet, and the protocol's report.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1

:func:`build` is what :func:`convzoo.train.runner.train` calls for ``--task gait``. The data
is ``--dataset`` (:mod:`convzoo.data.gait`): by default the generated walkers, or ``casia-b``
(its silhouette tree in ``--data-dir``), split by the dataset's protocol: the first subjects
train (CASIA-B's first 74, the paper's large-sample setting), the others are tested with
gallery NM #1-4 against probes NM #5-6, BG #1-2 and CL #1-2.

Training draws batches of ``--classes-per-batch`` P subjects with ``--samples-per-class`` K
sequences each (:class:`~convzoo.train.pk_sampler.PKBatchSampler`; P defaults to
:data:`~convzoo.tasks.gait.flags.DEFAULT_SUBJECTS_PER_BATCH`, or every training subject when fewer), each sequence a set
of ``--frames-per-set`` frames drawn with replacement (the paper's 30); an epoch is
``--sets-per-epoch`` sets (default: one per training sequence). The loss is the per-strip
batch-all triplet loss (:class:`~convzoo.tasks.gait.objective.GaitTask`, ``--margin``).

Validation, after every epoch, is the same loss and the in-batch recall@1 on a few held-out
sequences of the training subjects (:func:`hold_out`): of each of the first
:data:`VAL_SUBJECTS` training subjects, its last NM sequence from two views, each as its
first ``--frames-per-set`` frames spread evenly over the sequence, so that it costs one
small batch and draws nothing from the training's random generator.

The report embeds the test subjects' sequences with all their frames and scores rank-1
accuracy under the protocol (:mod:`~convzoo.tasks.gait.scoring`) into ``test_metrics.json``,
with the view tables drawn in ``rank1_tables.png``. The checkpoint's ``task_args`` keep the
data settings, for ``convzoo eval``.

Deviations:
    The validation sequences (2 per subject for at most 8 subjects: 16 of CASIA-B's 8,140
    training sequences) are held out of training; the paper trains on every one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from convzoo.data.gait import (
    WALKERS_PROTOCOL,
    GaitProtocol,
    GaitSource,
    GaitSplit,
    GeneratedWalkers,
    SilhouetteSets,
    load_gait_source,
    protocol_for,
)
from convzoo.data.gait.walkers import DEFAULT_FRAMES, DEFAULT_SUBJECTS
from convzoo.errors import ConvzooError
from convzoo.tasks.gait.flags import DEFAULT_SUBJECTS_PER_BATCH
from convzoo.tasks.gait.losses import MARGIN
from convzoo.tasks.gait.objective import GaitTask
from convzoo.tasks.gait.scoring import TABLES_FILE, embed_sequences, plot_tables, protocol_report
from convzoo.train.checkpoint import CheckpointMeta
from convzoo.train.config import TrainConfig
from convzoo.train.distributed import DistContext
from convzoo.train.engine import Trainer
from convzoo.train.pk_sampler import PKBatchSampler
from convzoo.train.runner import Pipeline, build_model

__all__ = ["DATA_SEED", "DEFAULT_DATASET", "GaitData", "VAL_SUBJECTS", "EvenFrames",
           "build", "data_settings", "embed_test", "hold_out", "load_source", "load_task_data",
           "walkers_protocol"]

DEFAULT_DATASET = "walkers"
DATA_SEED = 0  # the generated walkers are the same whatever the run's --seed
VAL_SUBJECTS = 8  # training subjects with held-out validation sequences


@dataclass
class GaitData:
    """A run's silhouettes: the source, its protocol and split, and the held-out validation sequences."""

    source: GaitSource
    protocol: GaitProtocol
    split: GaitSplit
    train: list[int]  # the split's training sequences less the validation ones
    train_labels: list[int]
    val: list[int]
    val_labels: list[int]


class EvenFrames(Dataset):
    """Sets of exactly ``frames`` frames spread evenly over each sequence (repeated when it is shorter).

    Deterministic, for validation: item ``i`` -> (float32 ``(frames, 64, 44)`` in [0, 1], label).
    """

    def __init__(self, source: GaitSource, indices: list[int], labels: list[int], frames: int) -> None:
        self.sets = SilhouetteSets(source, indices, labels, frames_per_set=None)
        self.frames = frames

    def __len__(self) -> int:
        return len(self.sets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        frames, label = self.sets[i]  # (T, 64, 44)
        chosen = np.linspace(0, frames.shape[0] - 1, self.frames).round().astype(np.int64)
        return frames[torch.from_numpy(chosen)], label


def data_settings(config: TrainConfig) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_task_data` takes them (and ``task_args`` keeps them)."""
    settings = {"dataset": config.dataset or DEFAULT_DATASET,
                "data_dir": str(config.data_dir) if config.data_dir is not None else None, "data_seed": DATA_SEED,
                "train_subjects": config.gait_train_subjects}
    sizes = {"gait_subjects": config.gait_subjects, "gait_frames": config.gait_frames}
    if settings["dataset"] == DEFAULT_DATASET:
        settings.update(sizes)
    elif any(value is not None for value in sizes.values()):
        raise ConvzooError(f"--gait-subjects and --gait-frames size the generated walkers; --dataset "
                           f"{settings['dataset']} has its own subjects and frames")
    return settings


def walkers_protocol(subjects: int) -> GaitProtocol:
    """:data:`~convzoo.data.gait.WALKERS_PROTOCOL` for ``subjects`` walkers: the same share of them trains
    (24 of the default 40), at least one subject on each side."""
    train = min(max(1, round(subjects * WALKERS_PROTOCOL.train_subjects / DEFAULT_SUBJECTS)), subjects - 1)
    return GaitProtocol(train, WALKERS_PROTOCOL.gallery, WALKERS_PROTOCOL.probes)


def load_source(settings: dict[str, Any]) -> tuple[GaitSource, GaitProtocol]:
    """The gait source a run's (or a checkpoint's) ``task_args`` describe, and its protocol."""
    seed = settings.get("data_seed", DATA_SEED)
    if settings["dataset"] == DEFAULT_DATASET and (settings.get("gait_subjects") or settings.get("gait_frames")):
        subjects = settings.get("gait_subjects") or DEFAULT_SUBJECTS
        source = GeneratedWalkers(subjects, settings.get("gait_frames") or DEFAULT_FRAMES, seed=seed)
        protocol = walkers_protocol(subjects)
    else:
        source = load_gait_source(settings["dataset"], settings.get("data_dir"), seed=seed)
        protocol = protocol_for(settings["dataset"])
    if settings.get("train_subjects") is not None:
        protocol = replace(protocol, train_subjects=settings["train_subjects"])
    return source, protocol


def hold_out(source: GaitSource, split: GaitSplit) -> tuple[list[int], list[int], list[int], list[int]]:
    """``(train, train_labels, val, val_labels)``: the split's training sequences less the validation ones.

    The validation sequences are, for each of the first :data:`VAL_SUBJECTS` training
    subjects, its NM sequence of the highest index seen from its first view and from the view
    half-way along its views, when it has two views.
    """
    by_subject: dict[int, list[int]] = {}
    for index, label in zip(split.train, split.train_labels):
        by_subject.setdefault(label, []).append(index)
    held: set[int] = set()
    for label in sorted(by_subject)[:VAL_SUBJECTS]:
        normal = [i for i in by_subject[label] if source.sequences[i].condition == "nm"]
        if not normal:
            continue
        last = max(source.sequences[i].index for i in normal)
        views = sorted((source.sequences[i].view, i) for i in normal if source.sequences[i].index == last)
        if len(views) >= 2:
            held.update((views[0][1], views[len(views) // 2][1]))
    train = [(index, label) for index, label in zip(split.train, split.train_labels) if index not in held]
    val = [(index, label) for index, label in zip(split.train, split.train_labels) if index in held]
    return [i for i, _ in train], [lab for _, lab in train], [i for i, _ in val], [lab for _, lab in val]


def load_task_data(settings: dict[str, Any]) -> GaitData:
    """The silhouettes a run's (or a checkpoint's) ``task_args`` describe, split by their dataset's protocol."""
    source, protocol = load_source(settings)
    split = protocol.split(source)
    return GaitData(source, protocol, split, *hold_out(source, split))


def embed_test(model: torch.nn.Module, data: GaitData, device: torch.device | str | None = None):
    """The test subjects' gallery and probe sequences, embedded with all their frames."""
    indices = sorted({*data.split.gallery, *(i for probe in data.split.probes.values() for i in probe)})
    return embed_sequences(model, data.source, indices, device=device)


def _refuse_transfer(config: TrainConfig) -> None:
    if config.pretrained or config.head_only or config.freeze != "none":
        raise ConvzooError("--pretrained, --freeze and --head-only are for classifiers; --task gait trains GaitSet "
                           "from its initialisation")


def _sampler(config: TrainConfig, data: GaitData, ctx: DistContext) -> PKBatchSampler:
    subjects = len(set(data.train_labels))
    per_batch = config.classes_per_batch or min(subjects, DEFAULT_SUBJECTS_PER_BATCH)
    if per_batch > subjects:
        raise ConvzooError(f"--classes-per-batch {per_batch} is more than the {subjects} training subjects of "
                           f"{data.source.name}")
    batch = per_batch * config.samples_per_class
    batches = max(1, (config.sets_per_epoch or len(data.train)) // batch)
    return PKBatchSampler(data.train_labels, per_batch, config.samples_per_class, seed=config.seed,
                          batches_per_epoch=batches, rank=ctx.rank, world_size=ctx.world_size)


def build(config: TrainConfig, ctx: DistContext) -> Pipeline:
    _refuse_transfer(config)
    settings = data_settings(config)
    data = load_task_data(settings)
    model, model_args = build_model(config, in_chans=1)
    margin = MARGIN if config.margin is None else config.margin
    train_sets = SilhouetteSets(data.source, data.train, data.train_labels, frames_per_set=config.frames_per_set)
    val_sets = EvenFrames(data.source, data.val, data.val_labels, config.frames_per_set)
    trainer = Trainer(model, GaitTask(margin), train_data=train_sets, val_data=val_sets, config=config, ctx=ctx,
                      train_sampler=_sampler(config, data, ctx))
    train_subjects = sorted({data.source.sequences[i].subject for i in data.split.train})
    meta = CheckpointMeta(
        model=config.model, model_args=model_args, dataset=settings["dataset"], class_names=train_subjects,
        mean=[], std=[], input_size=[config.frames_per_set, 64, 44], task="gait",
        task_args={**settings, "margin": margin, "frames_per_set": config.frames_per_set},
    )

    def report(trainer: Trainer, out: Path, is_main: bool) -> dict[str, Any]:
        embedded = embed_test(trainer.module, data, device=ctx.device)
        result = protocol_report(data.source, data.split, data.protocol, embedded)
        if is_main:
            plot_tables(result, out / TABLES_FILE, f"{config.model} on {settings['dataset']} (test subjects)")
        return result

    return Pipeline(trainer=trainer, meta=meta, report=report)
