"""DARTS's search: a supernet of mixed operations and the first-order bilevel optimisation of its alphas.

Paper: DARTS: Differentiable Architecture Search (Hanxiao Liu, Karen Simonyan, Yiming Yang, ICLR 2019)
https://arxiv.org/abs/1806.09055

DARTS relaxes the choice of an edge's operation to a softmax over all of them (Eq. 2): the *mixed operation*
of edge ``(i, j)`` is ``o(x) = sum_o softmax(alpha_ij)_o * o(x)`` over the 8 operations of
:data:`~convzoo.models.darts.OPS`. Every intermediate node of a cell sums the mixed operations of all its
earlier nodes (2 + 3 + 4 + 5 = 14 edges for 4 nodes), so the supernet (:class:`DartsSupernet`) holds every
cell of the space at once, weighted by two 14 x 8 matrices of architecture parameters, one shared by the
normal cells and one by the reduction cells.

The search is a bilevel problem (Eq. 3, 4): the alphas minimise the validation loss of the weights that
minimise the training loss. The first-order approximation (Sec. 2.3 with ``xi = 0``) alternates one Adam step
of the alphas on a batch of the held-out half of the training set and one SGD step of the weights on a batch
of the other half (:class:`DartsSearch`). At the end the discrete cell is derived (Sec. 2.4): per node, the
two incoming edges whose strongest non-zero operation is strongest, each with that operation
(:func:`derive_cell`).

Deviations:
    - ``DartsSearch`` takes the seeded 50/50 split of ``splits.train`` (the paper's split of the CIFAR-10
      training set), batches each half in a seeded per-epoch order, and runs ``min`` of the two halves' batch
      counts per epoch (the reference code zips the two loaders the same way).
    - The learning rate follows the cosine schedule per epoch, stepped after each epoch.
    - Only the first-order approximation (the second-order one needs a virtual step of the weights).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from convzoo.data.splits import ImageSplits
from convzoo.errors import ConvzooError
from convzoo.models.darts import OPS, PRIMITIVES, FactorizedReduce, ReLUConvBN
from convzoo.train.engine import _optimizer_state, _rng_state, _set_rng_state
from convzoo.train.seed import seed_everything
from convzoo.train.state import load_state, save_state

__all__ = ["DartsSearch", "DartsSupernet", "MixedOp", "SearchCell", "derive_cell"]

NONE = PRIMITIVES.index("none")


class MixedOp(nn.Module):
    """An edge of the supernet: the softmax-weighted sum of all the operations (Eq. 2).

    The operations' batch norms are not affine (the alphas scale them instead), and a pooling is followed by a
    non-affine batch norm, as in the reference code.
    """

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        ops = []
        for name in PRIMITIVES:
            op = OPS[name](channels, stride, False)
            if "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(channels, affine=False))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``weights``: ``(len(PRIMITIVES),)``, the softmax of the edge's alphas."""
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    """A cell of the supernet: every node sums the mixed operations of all earlier nodes.

    Shape:
        - Input: ``s0`` ``(B, prev_prev_channels, H', W')``, ``s1`` ``(B, prev_channels, H, W)``, weights
          ``(edges, len(PRIMITIVES))`` with ``edges = sum(2 + i for i < nodes)``.
        - Output: ``(B, nodes * channels, H / s, W / s)``, ``s = 2`` in a reduction cell.
    """

    def __init__(self, prev_prev_channels: int, prev_channels: int, channels: int, reduction: bool,
                 reduction_prev: bool, nodes: int = 4) -> None:
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.preprocess0 = (FactorizedReduce(prev_prev_channels, channels, affine=False) if reduction_prev
                            else ReLUConvBN(prev_prev_channels, channels, 1, 1, 0, affine=False))
        self.preprocess1 = ReLUConvBN(prev_channels, channels, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList(
            MixedOp(channels, 2 if reduction and j < 2 else 1) for i in range(nodes) for j in range(i + 2)
        )
        self.out_channels = nodes * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # both (B, C, H, W)
        offset = 0
        for _ in range(self.nodes):
            states.append(sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))
            offset += len(states) - 1
        return torch.cat(states[2:], dim=1)  # (B, nodes * C, H / s, W / s)


def derive_cell(weights: torch.Tensor, nodes: int = 4) -> list[list[Any]]:
    """The discrete cell of softmax weights ``(edges, len(PRIMITIVES))`` (Sec. 2.4).

    Per node: the two incoming edges with the largest strongest non-zero weight (strongest first; ties to the
    earlier input), each as ``[op, input]`` with its strongest non-zero operation.
    """
    rows = weights.detach().cpu().double().tolist()
    ops = [k for k in range(len(PRIMITIVES)) if k != NONE]
    gene: list[list[Any]] = []
    start = 0
    for i in range(nodes):
        edges = rows[start:start + i + 2]
        best = [max(ops, key=lambda k, row=row: (row[k], -k)) for row in edges]  # argmax, first on ties
        strongest = sorted(range(i + 2), key=lambda j: -edges[j][best[j]])[:2]  # stable: earlier input on ties
        gene += [[PRIMITIVES[best[j]], j] for j in strongest]
        start += i + 2
    return gene


class DartsSupernet(nn.Module):
    """DARTS's search network: a stem, ``layers`` cells of mixed operations, global pooling, linear.

    Args:
        init_channels: width of the first cells (16 in the paper's search).
        layers: number of cells (8); reduction cells at ``layers // 3`` and ``2 * layers // 3``.
        num_classes: number of outputs.
        in_chans: input channels.
        nodes: intermediate nodes per cell (4).
        stem_multiplier: the stem's width over ``init_channels`` (3).

    Shape:
        - Input: ``(B, in_chans, H, W)``.
        - Output: ``(B, num_classes)``.
    """

    def __init__(self, init_channels: int = 16, layers: int = 8, num_classes: int = 10, in_chans: int = 3,
                 nodes: int = 4, stem_multiplier: int = 3) -> None:
        super().__init__()
        if layers < 3 or init_channels < 2 or init_channels % 2:
            raise ConvzooError(f"DartsSupernet: expected layers >= 3 and an even init_channels >= 2, "
                               f"got layers={layers}, init_channels={init_channels}")
        self.nodes, self.in_chans = nodes, in_chans
        stem_channels = stem_multiplier * init_channels
        self.stem = nn.Sequential(nn.Conv2d(in_chans, stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_channels))
        prev_prev, prev, channels, reduction_prev = stem_channels, stem_channels, init_channels, False
        cells = []
        for index in range(layers):
            reduction = index in (layers // 3, 2 * layers // 3)
            channels = channels * 2 if reduction else channels
            cell = SearchCell(prev_prev, prev, channels, reduction, reduction_prev, nodes)
            cells.append(cell)
            prev_prev, prev, reduction_prev = prev, cell.out_channels, reduction
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, num_classes)
        edges = sum(i + 2 for i in range(nodes))
        # The architecture: one row of alphas per edge, one column per operation; small random init as the paper.
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(PRIMITIVES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ConvzooError(f"DartsSupernet expects input of shape (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        normal = F.softmax(self.alphas_normal, dim=-1)  # (edges, ops)
        reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)  # (B, 3C, H, W)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))  # (B, num_classes)

    def derive_genotype(self) -> dict[str, Any]:
        """The discrete genotype of the current alphas, as ``darts_net`` reads it."""
        concat = list(range(2, 2 + self.nodes))
        return {
            "space": "darts",
            "normal": derive_cell(F.softmax(self.alphas_normal, dim=-1), self.nodes),
            "normal_concat": concat,
            "reduce": derive_cell(F.softmax(self.alphas_reduce, dim=-1), self.nodes),
            "reduce_concat": list(concat),
        }


def _batch(dataset: Dataset, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The images ``(B, C, H, W)`` and labels ``(B,)`` of ``indices``."""
    if isinstance(dataset, TensorDataset):
        images, labels = dataset.tensors[0][indices], dataset.tensors[1][indices]
    else:
        items = [dataset[int(i)] for i in indices]
        images = torch.stack([torch.as_tensor(image) for image, _ in items])
        labels = torch.as_tensor([int(label) for _, label in items])
    return images.float(), labels.long()


def _softmax_rows(alphas: torch.Tensor) -> list[list[float]]:
    return F.softmax(alphas.detach(), dim=-1).cpu().double().tolist()


class DartsSearch:
    """First-order DARTS on ``splits.train``, resumable step by step.

    Args:
        splits: the dataset; its training set is split 50/50 (seeded) into a half for the weights and a half
            for the alphas.
        seed: seeds the split, the batch orders, the supernet's initialisation and any augmentation.
        init_channels, layers: the supernet's size (the paper's 16 and 8).
        epochs: passes over the halves.
        batch_size: per step, of each half (64).
        w_lr, w_lr_min: the weights' SGD learning rate, cosine-annealed per epoch from ``w_lr`` to ``w_lr_min``.
        momentum, w_wd: the weights' SGD momentum and weight decay.
        arch_lr, arch_wd: the alphas' Adam learning rate (betas 0.5, 0.999) and weight decay.
        grad_clip: the weights' gradient norm is clipped to it.
        state_path: where the whole state is saved after every epoch and every ``checkpoint_every`` steps; a
            search created with the same arguments on an existing file continues from it.
        checkpoint_every: steps between saves within an epoch (``None``: only after each epoch).
        device: where the supernet runs.

    Attributes:
        history: one dict per finished epoch: ``epoch``, ``lr``, the mean ``weight_loss`` / ``weight_acc`` (on
            the weights' half) and ``arch_loss`` / ``arch_acc`` (on the alphas' half), the derived ``genotype``
            and ``alphas_normal`` / ``alphas_reduce`` as softmax rows (edges x ops, in ``PRIMITIVES`` order).
    """

    def __init__(
        self,
        splits: ImageSplits,
        *,
        seed: int,
        epochs: int,
        init_channels: int = 16,
        layers: int = 8,
        batch_size: int = 64,
        w_lr: float = 0.025,
        w_lr_min: float = 0.001,
        momentum: float = 0.9,
        w_wd: float = 3e-4,
        arch_lr: float = 3e-4,
        arch_wd: float = 1e-3,
        grad_clip: float = 5.0,
        state_path: str | os.PathLike | None = None,
        checkpoint_every: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if epochs < 1 or batch_size < 1:
            raise ConvzooError(f"DartsSearch: expected epochs >= 1 and batch_size >= 1, "
                               f"got epochs={epochs}, batch_size={batch_size}")
        if checkpoint_every is not None and checkpoint_every < 1:
            raise ConvzooError(f"DartsSearch checkpoint_every: expected a positive number of steps or None, "
                               f"got {checkpoint_every}")
        self.splits, self.seed, self.epochs, self.batch_size = splits, seed, epochs, batch_size
        self.grad_clip, self.checkpoint_every = grad_clip, checkpoint_every
        self.state_path = Path(state_path) if state_path is not None else None
        self.device = torch.device(device)
        self.config = dict(seed=seed, epochs=epochs, init_channels=init_channels, layers=layers,
                           batch_size=batch_size, w_lr=w_lr, w_lr_min=w_lr_min, momentum=momentum, w_wd=w_wd,
                           arch_lr=arch_lr, arch_wd=arch_wd, grad_clip=grad_clip)
        count = len(splits.train)
        if count < 2:
            raise ConvzooError(f"DartsSearch: splits.train of {splits.name!r} needs at least 2 images, got {count}")
        image, _ = splits.train[0]
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
        self.weight_indices, self.arch_indices = order[: count // 2], order[count // 2:]

        seed_everything(seed)
        self.model = DartsSupernet(init_channels, layers, len(splits.class_names), in_chans=image.shape[0])
        self.model.to(self.device)
        self.w_optimizer = torch.optim.SGD(self.model.weight_parameters(), w_lr, momentum=momentum,
                                           weight_decay=w_wd)
        self.a_optimizer = torch.optim.Adam(self.model.arch_parameters(), arch_lr, betas=(0.5, 0.999),
                                            weight_decay=arch_wd)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_optimizer, epochs, eta_min=w_lr_min)
        self.epoch, self.step, self.global_step = 0, 0, 0
        self.sums = self._zero_sums()
        self.history: list[dict[str, Any]] = []
        if self.state_path is not None and self.state_path.is_file():
            self._load(load_state(self.state_path))

    # -- state -------------------------------------------------------------------------------------------------

    @staticmethod
    def _zero_sums() -> dict[str, float]:
        return {"weight_loss": 0.0, "weight_correct": 0.0, "arch_loss": 0.0, "arch_correct": 0.0, "seen": 0.0,
                "arch_seen": 0.0}

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": dict(self.config),
            "model": self.model.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "a_optimizer": self.a_optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(),
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "sums": dict(self.sums),
            "history": list(self.history),
        }

    def _load(self, state: dict[str, Any]) -> None:
        if state["config"] != self.config:
            changed = sorted(k for k in self.config if state["config"].get(k) != self.config[k])
            raise ConvzooError(f"the search state {self.state_path} was saved with other arguments "
                               f"({', '.join(changed)}); use the same ones or another state_path")
        self.model.load_state_dict(state["model"])
        self.w_optimizer.load_state_dict(_optimizer_state(state["w_optimizer"]))
        self.a_optimizer.load_state_dict(_optimizer_state(state["a_optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.epoch, self.step, self.global_step = state["epoch"], state["step"], state["global_step"]
        self.sums = dict(state["sums"])
        self.history = list(state["history"])

    def save(self) -> None:
        if self.state_path is not None:
            save_state(self.state_path, self.state_dict())

    # -- the search --------------------------------------------------------------------------------------------

    def steps_per_epoch(self) -> int:
        return min(math.ceil(len(self.weight_indices) / self.batch_size),
                   math.ceil(len(self.arch_indices) / self.batch_size))

    def _orders(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's order of each half: a permutation seeded by ``(seed, epoch)``."""
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        weights = self.weight_indices[torch.randperm(len(self.weight_indices), generator=generator)]
        arch = self.arch_indices[torch.randperm(len(self.arch_indices), generator=generator)]
        return weights, arch

    def _load_batch(self, order: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = _batch(self.splits.train, order[step * self.batch_size:(step + 1) * self.batch_size])
        if self.splits.augment is not None:
            images = self.splits.augment(images)
        return images.to(self.device), labels.to(self.device)

    def _update(self, params: list[nn.Parameter], images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """Gradients of the loss for ``params`` only (the other group's ``.grad`` is left as it was)."""
        logits = self.model(images)
        loss = F.cross_entropy(logits, labels)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = torch.zeros_like(p) if g is None else g
        correct = (logits.argmax(dim=1) == labels).sum().item()
        return loss.item() * len(labels), float(correct)

    def arch_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """One Adam step of the alphas on a batch of the held-out half (first order: Eq. 6 with xi = 0)."""
        result = self._update(self.model.arch_parameters(), images, labels)
        self.a_optimizer.step()
        return result

    def weight_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """One SGD step of the weights on a batch of the training half, the gradient norm clipped."""
        params = self.model.weight_parameters()
        result = self._update(params, images, labels)
        nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.w_optimizer.step()
        return result

    def genotype(self) -> dict[str, Any]:
        return self.model.derive_genotype()

    def run(
        self,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Search until ``epochs`` are done (continuing a loaded state); returns the derived genotype.

        ``on_epoch(record)`` is called after each epoch with its :attr:`history` record, ``on_step(global_step)``
        after each step (and after any save of that step).
        """
        self.model.train()
        steps = self.steps_per_epoch()
        while self.epoch < self.epochs:
            weight_order, arch_order = self._orders(self.epoch)
            lr = self.w_optimizer.param_groups[0]["lr"]
            while self.step < steps:
                arch_images, arch_labels = self._load_batch(arch_order, self.step)
                arch_loss, arch_correct = self.arch_step(arch_images, arch_labels)
                weight_images, weight_labels = self._load_batch(weight_order, self.step)
                weight_loss, weight_correct = self.weight_step(weight_images, weight_labels)
                for key, value in (("arch_loss", arch_loss), ("arch_correct", arch_correct),
                                   ("weight_loss", weight_loss), ("weight_correct", weight_correct),
                                   ("seen", float(len(weight_labels))), ("arch_seen", float(len(arch_labels)))):
                    self.sums[key] += value
                self.step += 1
                self.global_step += 1
                if self.checkpoint_every and self.global_step % self.checkpoint_every == 0 and self.step < steps:
                    self.save()
                if on_step is not None:
                    on_step(self.global_step)
            record = self._record(lr)
            self.scheduler.step()
            self.history.append(record)
            self.epoch, self.step, self.sums = self.epoch + 1, 0, self._zero_sums()
            self.save()
            if on_epoch is not None:
                on_epoch(record)
        return self.genotype()

    def _record(self, lr: float) -> dict[str, Any]:
        seen, arch_seen = max(self.sums["seen"], 1.0), max(self.sums["arch_seen"], 1.0)
        return {
            "epoch": self.epoch + 1,
            "lr": lr,
            "weight_loss": self.sums["weight_loss"] / seen,
            "weight_acc": self.sums["weight_correct"] / seen,
            "arch_loss": self.sums["arch_loss"] / arch_seen,
            "arch_acc": self.sums["arch_correct"] / arch_seen,
            "genotype": self.genotype(),
            "alphas_normal": _softmax_rows(self.model.alphas_normal),
            "alphas_reduce": _softmax_rows(self.model.alphas_reduce),
        }
