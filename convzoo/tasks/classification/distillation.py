"""Knowledge distillation: a classifier learns from a trained teacher's softened predictions.

Paper: Distilling the Knowledge in a Neural Network (Hinton, Vinyals, Dean, NIPS Deep
Learning Workshop 2014; arXiv 2015) https://arxiv.org/abs/1503.02531

The teacher's logits ``v`` and the student's ``z`` are softened by a temperature ``T``,
``q_i = exp(z_i / T) / sum_j exp(z_j / T)`` (the paper's Eq. 1), and the student is trained
on a weighted sum of two objectives::

    loss = alpha * T^2 * KL(softmax(v / T) || softmax(z / T)) + (1 - alpha) * CE(z, labels)

The soft term's gradient with respect to ``z_i`` is ``(q_i - p_i) / T`` before scaling
(Eq. 2), and about ``(z_i - v_i) / (N T^2)`` for large ``T`` and zero-mean logits over ``N``
classes (Eq. 4); multiplying by ``T^2`` keeps the two terms' relative weight when ``T``
changes, as the paper prescribes. KL differs from the paper's cross-entropy with the soft
targets by the teacher's entropy, a constant for the student, so the gradients are the
same and the soft term is 0 when the student matches the teacher.

How a run distils (``convzoo train STUDENT --teacher CHECKPOINT``): :func:`attach_teacher`
registers a forward hook on the student that, in training mode only, runs the frozen
teacher on the same (augmented) batch and returns :class:`DistillationOutput`; the
engine hands that output to :class:`DistillationTask`'s loss, exactly as a model with
auxiliary heads hands over :class:`~convzoo.models._classifier.AuxLogits`. A hook rather
than a wrapper module is the smallest change that keeps everything else as it is: the
engine and the runner are untouched, the teacher is not a submodule of the student, so
the student's ``state_dict`` (the resume file, ``model.safetensors``) holds the student
alone and loads and predicts as a plain classifier; ``model.train()`` cannot reach the
teacher, which stays in eval mode; the optimiser never sees its parameters. A resumed
run reloads the teacher from the path in its saved settings.

Deviations: the paper's soft term is a cross-entropy (here KL: same gradients, see
above). Validation and test losses are the student's own cross-entropy (the teacher
does not run in eval mode), so they compare with a student trained alone; the
training loss is the distillation objective. A student with auxiliary heads learns
the soft targets with its main head; its auxiliary heads keep their hard-label losses.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from convzoo.errors import ConvzooError
from convzoo.models._classifier import AuxLogits
from convzoo.tasks.classification.objective import ClassificationTask, main_logits
from convzoo.train.checkpoint import CheckpointMeta, load_checkpoint
from convzoo.train.config import TrainConfig

__all__ = [
    "DistillationOutput", "DistillationTask", "attach_teacher", "check_teacher", "distil", "load_teacher",
    "soft_target_loss",
]


class DistillationOutput(NamedTuple):
    """What a student with an attached teacher returns in training mode.

    ``student`` is the student's own output (logits, or :class:`AuxLogits`); ``teacher``
    the teacher's logits on the same batch, computed without gradients.
    """

    student: torch.Tensor | AuxLogits
    teacher: torch.Tensor


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the batch.

    Shape:
        student_logits, teacher_logits: (B, num_classes); returns a scalar.
    """
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    divergence = F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)
    return temperature**2 * divergence


def _student_output(output: DistillationOutput | torch.Tensor | AuxLogits) -> torch.Tensor | AuxLogits:
    return output.student if isinstance(output, DistillationOutput) else output


class DistillationTask:
    """A classification task whose training loss adds a teacher's soft targets.

    Args:
        base: the student's classification task (cross-entropy with its label smoothing
            and auxiliary heads, and the metrics).
        temperature: ``T``, the softmax temperature of the soft targets (the paper: 1-20).
        alpha: weight of the soft-target term; ``1 - alpha`` weighs ``base``'s loss.

    The loss takes :class:`DistillationOutput` in training; in eval mode the student's
    logits alone, scored with ``base``'s loss. Metrics are always the student's.
    """

    name = "classification"

    def __init__(self, base: ClassificationTask, temperature: float, alpha: float) -> None:
        self.base = base
        self.temperature = temperature
        self.alpha = alpha

    @property
    def num_classes(self) -> int:
        return self.base.num_classes

    def loss(self, output: DistillationOutput | torch.Tensor | AuxLogits, targets: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, DistillationOutput):
            return self.base.loss(output, targets)
        hard = self.base.loss(output.student, targets)
        soft = soft_target_loss(main_logits(output.student), output.teacher, self.temperature)
        return self.alpha * soft + (1 - self.alpha) * hard

    def batch_sums(
        self, output: DistillationOutput | torch.Tensor | AuxLogits, targets: torch.Tensor, detailed: bool = False
    ) -> dict[str, torch.Tensor]:
        return self.base.batch_sums(_student_output(output), targets, detailed)

    def summarize(self, sums: dict[str, torch.Tensor], count: int) -> dict[str, float]:
        return self.base.summarize(sums, count)


def attach_teacher(student: nn.Module, teacher: nn.Module) -> RemovableHandle:
    """Make ``student`` return :class:`DistillationOutput` in training mode; ``handle.remove()`` undoes it.

    ``teacher`` is frozen (eval mode, ``requires_grad=False``) and runs under
    ``torch.no_grad()`` on the student's input, inside whatever autocast the student runs in.
    """
    teacher.eval().requires_grad_(False)

    def add_teacher_logits(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
        if not module.training:
            return output
        with torch.no_grad():
            teacher_logits = main_logits(teacher(inputs[0]))  # (B, num_classes)
        return DistillationOutput(output, teacher_logits)

    return student.register_forward_hook(add_teacher_logits)


def _shown(names: list[str]) -> str:
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def check_teacher(teacher: CheckpointMeta, student: CheckpointMeta, path: str | os.PathLike) -> None:
    """Refuse a teacher whose predictions do not fit the student's run, in one line naming the mismatch.

    The teacher sees the student's batches, so it must be a classifier of the same classes
    (in the same order), taking the same channels, image size and normalisation.
    """
    if teacher.task != "classification":
        raise ConvzooError(f"--teacher {path} is a {teacher.task} checkpoint; distillation needs a classifier "
                           "trained with --task classification")
    if teacher.input_size[0] != student.input_size[0]:
        raise ConvzooError(f"--teacher {path} takes {teacher.input_size[0]}-channel images, but this run feeds "
                           f"{student.input_size[0]}-channel ones ({student.dataset})")
    if teacher.class_names != student.class_names:
        raise ConvzooError(
            f"--teacher {path} predicts {len(teacher.class_names)} classes of {teacher.dataset} "
            f"({_shown(teacher.class_names)}), but this run has {len(student.class_names)} of {student.dataset} "
            f"({_shown(student.class_names)}); the teacher needs the same classes in the same order"
        )
    teacher_size, student_size = teacher.input_size[1:], student.input_size[1:]
    if teacher_size != student_size:
        raise ConvzooError(f"--teacher {path} was trained on {'x'.join(map(str, teacher_size))} images, but this run "
                           f"feeds {'x'.join(map(str, student_size))}; give --image-size {teacher_size[-1]}")
    if (list(teacher.mean), list(teacher.std)) != (list(student.mean), list(student.std)):
        raise ConvzooError(f"--teacher {path} was trained on images normalised with mean {teacher.mean} and std "
                           f"{teacher.std} ({teacher.dataset}), but this run uses {student.mean} and {student.std} "
                           f"({student.dataset})")


def load_teacher(path: str | os.PathLike, student: CheckpointMeta, device: torch.device | str = "cpu") -> nn.Module:
    """The teacher checkpoint at ``path``, checked against the student's run, frozen, in eval mode on ``device``."""
    teacher, meta = load_checkpoint(path, device)
    check_teacher(meta, student, path)
    return teacher.requires_grad_(False)


def distil(
    student: nn.Module, task: ClassificationTask, config: TrainConfig, meta: CheckpointMeta, device: torch.device
) -> DistillationTask:
    """Attach ``config.teacher`` (set) to ``student`` and return the distillation objective that replaces ``task``."""
    attach_teacher(student, load_teacher(config.teacher, meta, device))
    return DistillationTask(task, config.kd_temperature, config.kd_alpha)
