"""Weight codebooks: k-means and product quantisation of convolution and linear weights, for storage.

Paper: And the Bit Goes Down: Revisiting the Quantization of Neural Networks (Stock, Joulin, Gribonval,
Graham, Jégou, ICLR 2020) https://arxiv.org/abs/1907.05686 ; block size 1 is the scalar k-means of
Deep Compression (Han, Mao, Dally, ICLR 2016) https://arxiv.org/abs/1510.00149

A layer's weight, ``(C_out, C_in / groups, K, K)``, is read as ``C_out`` rows of ``C_in / groups * K * K``
values, and each row is cut into blocks of ``d`` consecutive values (the paper's subvectors): for a
3x3 convolution ``d = 9``, one kernel per block; for a 1x1 convolution or a linear layer ``d = 4``,
four input channels per block (the paper's "small blocks"). The layer's ``n`` blocks are
clustered by k-means into ``k`` centroids, one codebook shared by all the layer's blocks (the paper's
choice; classic product quantisation keeps a codebook per subspace), and each block is stored as the
index of its nearest centroid. On disk a layer then takes

    ceil(n * ceil(log2 k) / 8) bytes of codes  +  k * d * 2 bytes of float16 centroids

against ``4 * n * d`` bytes of float32, for instance 8 bits per 3x3 kernel instead of 288 at ``k = 256``.

Deviations: kernels larger than 3x3, which the paper's blocks do not cover, are cut into blocks of one
kernel row (``d = K``; whole 5x5 kernels in 256 centroids cost LeNet-5 seven points on digits). The
paper's objective weighs the reconstruction by the layer's input activations
(``||x W - x W_hat||^2``) and then fine-tunes the centroids by distillation; here k-means
minimises the plain weight error ``||W - W_hat||^2`` (the paper's "naive" baseline) with no fine-tuning.
Layers whose rows do not split into blocks stay in float32; so do biases and normalisation layers,
which the paper keeps in float16. A layer with fewer blocks than ``k`` gets a codebook of its ``n``
blocks (exact up to float16 rounding); codes and a float16 codebook are then still smaller than float32.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import atomic_path

__all__ = ["LayerCodebook", "WeightCodebooks", "decode_weights", "kmeans", "load_codebooks", "quantize_weights",
           "save_codebooks"]

POINTWISE_BLOCK_SIZE = 4  # the paper's block size of 1x1 convolutions and linear layers ("small blocks")
MAX_KERNEL_BLOCK = 9  # the paper's largest block: one 3x3 kernel
CODEBOOK_DTYPE = torch.float16  # the paper stores its centroids in half precision
_CHUNK = 65536  # blocks whose distances to the centroids are computed at once


@dataclass
class LayerCodebook:
    """One layer's weight as codes into a codebook.

    Attributes:
        name: the module's name; its weight is the state-dict entry ``name + ".weight"``.
        shape: the weight's shape.
        codebook: ``(k, d)`` float16 centroids.
        codes: ``(n,)`` index of each block's centroid, blocks in the weight's row-major order.
        mse: mean squared difference between the decoded and the original weight.
    """

    name: str
    shape: tuple[int, ...]
    codebook: torch.Tensor
    codes: torch.Tensor
    mse: float

    @property
    def block_size(self) -> int:
        return self.codebook.shape[1]

    @property
    def code_bits(self) -> int:
        """Bits of one code: enough to index ``k`` centroids (at least 1)."""
        return max(1, math.ceil(math.log2(self.codebook.shape[0])))

    @property
    def code_bytes(self) -> int:
        return math.ceil(self.codes.numel() * self.code_bits / 8)

    @property
    def codebook_bytes(self) -> int:
        return self.codebook.numel() * self.codebook.element_size()

    @property
    def float32_bytes(self) -> int:
        return math.prod(self.shape) * 4

    def decode(self) -> torch.Tensor:
        """The weight the codes stand for, float32, of ``shape``."""
        return self.codebook.float()[self.codes].reshape(self.shape)


@dataclass
class WeightCodebooks:
    """A model's state dict with its conv and linear weights replaced by codebooks.

    Attributes:
        layers: the quantised weights.
        others: every other state-dict entry, as it was (biases, norms, weights left in float32).
        skipped: layer name -> why its weight stays in float32.
    """

    layers: list[LayerCodebook]
    others: dict[str, torch.Tensor]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def original_bytes(self) -> int:
        """The state dict's size as the model holds it (float32 weights)."""
        return sum(layer.float32_bytes for layer in self.layers) + self._others_bytes

    @property
    def compressed_bytes(self) -> int:
        """Codes, codebooks and the other entries: the tensor bytes :func:`save_codebooks` writes."""
        return sum(layer.code_bytes + layer.codebook_bytes for layer in self.layers) + self._others_bytes

    @property
    def _others_bytes(self) -> int:
        return sum(tensor.numel() * tensor.element_size() for tensor in self.others.values())

    @property
    def ratio(self) -> float:
        """How many times smaller the compressed state dict is."""
        return self.original_bytes / self.compressed_bytes

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The decoded state dict, ready for ``model.load_state_dict``."""
        return {**self.others, **{f"{layer.name}.weight": layer.decode() for layer in self.layers}}


def _nearest(vectors: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each vector's nearest centroid and its squared distance, in chunks that bound the memory."""
    codes, distances = [], []
    for chunk in vectors.split(_CHUNK):
        squared = torch.cdist(chunk, centroids).square()  # (chunk, k)
        best, index = squared.min(dim=1)
        codes.append(index)
        distances.append(best)
    return torch.cat(codes), torch.cat(distances)


def kmeans(vectors: torch.Tensor, k: int, *, iterations: int = 25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means of ``vectors`` ``(n, d)`` into at most ``k`` centroids; returns ``(centroids, codes)``.

    Starts from ``k`` of the vectors drawn at random without replacement; a centroid left without vectors is moved onto
    the vector farthest from its own centroid (so no code is wasted). Stops when no assignment changes.
    """
    vectors = vectors.float()
    k = min(k, len(vectors))
    generator = torch.Generator().manual_seed(seed)
    centroids = vectors[torch.randperm(len(vectors), generator=generator)[:k]].clone()
    codes = None
    for _ in range(iterations):
        new_codes, distances = _nearest(vectors, centroids)
        if codes is not None and torch.equal(new_codes, codes):
            break
        codes = new_codes
        counts = torch.bincount(codes, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, codes, vectors)
        centroids = sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):
            centroids[empty] = vectors[distances.topk(len(empty)).indices]
    return centroids, _nearest(vectors, centroids)[0]


def _block_size(module: nn.Module, block_size: int | None) -> int:
    """The given block size, else the paper's: a whole kernel up to 3x3, 4 for 1x1 convs and linear layers;
    one kernel row for larger kernels."""
    if block_size is not None:
        return block_size
    kernel = module.kernel_size if isinstance(module, nn.modules.conv._ConvNd) else (1,)
    if math.prod(kernel) == 1:
        return POINTWISE_BLOCK_SIZE
    return math.prod(kernel) if math.prod(kernel) <= MAX_KERNEL_BLOCK else kernel[-1]


def _quantize_layer(name: str, weight: torch.Tensor, k: int, d: int, iterations: int, seed: int) -> LayerCodebook:
    blocks = weight.detach().float().reshape(-1, d)  # rows of C_in/groups*K*K values cut into blocks of d
    centroids, _ = kmeans(blocks, k, iterations=iterations, seed=seed)
    codebook = centroids.to(CODEBOOK_DTYPE)
    codes, _ = _nearest(blocks, codebook.float())  # the nearest of the centroids as stored
    decoded = codebook.float()[codes].reshape(weight.shape)
    mse = float((decoded - weight.detach().float()).square().mean())
    return LayerCodebook(name, tuple(weight.shape), codebook, codes, mse)


def quantize_weights(
    model: nn.Module,
    *,
    codebook_size: int = 256,
    block_size: int | None = None,
    iterations: int = 25,
    seed: int = 0,
) -> WeightCodebooks:
    """Replace every convolution and linear weight of ``model`` by a k-means codebook and codes.

    Args:
        model: the trained model (left untouched).
        codebook_size: ``k``, centroids per layer (256: one byte per code).
        block_size: ``d``, values per block for every layer; ``None``: the paper's (the kernel of a 3x3 or
            smaller convolution, 4 for 1x1 convolutions and linear layers, a kernel row for larger kernels);
            1: scalar k-means.
        iterations: at most this many Lloyd iterations per layer.
        seed: the seed of the initial centroids.
    """
    if codebook_size < 2:
        raise ConvzooError(f"codebook size {codebook_size} is too small; expected at least 2 centroids")
    if block_size is not None and block_size < 1:
        raise ConvzooError(f"block size {block_size} is not positive; expected values per block >= 1")
    others = {key: value.detach().clone() for key, value in model.state_dict().items()}
    layers, skipped = [], {}
    for name, module in model.named_modules():
        if not isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)) or f"{name}.weight" not in others:
            continue
        weight, d = module.weight, _block_size(module, block_size)
        if weight[0].numel() % d:
            skipped[name] = f"its rows of {weight[0].numel()} values do not split into blocks of {d}"
            continue
        layers.append(_quantize_layer(name, weight, codebook_size, d, iterations, seed))
        del others[f"{name}.weight"]
    return WeightCodebooks(layers, others, skipped)


def decode_weights(model: nn.Module, codebooks: WeightCodebooks) -> nn.Module:
    """A copy of ``model`` holding the decoded weights (eval mode); ``model`` is left untouched."""
    decoded = copy.deepcopy(model)
    decoded.load_state_dict(codebooks.state_dict())
    return decoded.eval()


def _pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """``codes`` as a bit stream of ``bits`` bits each, most significant first, in bytes."""
    shifts = np.arange(bits - 1, -1, -1)
    stream = (codes.numpy()[:, None] >> shifts) & 1  # (n, bits)
    return torch.from_numpy(np.packbits(stream.astype(np.uint8).reshape(-1)))


def _unpack(packed: torch.Tensor, count: int, bits: int) -> torch.Tensor:
    stream = np.unpackbits(packed.numpy())[:count * bits].reshape(count, bits).astype(np.int64)
    return torch.from_numpy(stream @ (1 << np.arange(bits - 1, -1, -1)))


def save_codebooks(codebooks: WeightCodebooks, path: str | os.PathLike) -> Path:
    """Write the codes (bit-packed), codebooks (float16) and other entries to a safetensors file, atomically.

    Its tensors take exactly ``codebooks.compressed_bytes``; the layers' names and shapes are in its header.
    """
    path = Path(path)
    tensors = {f"others/{key}": value.contiguous() for key, value in codebooks.others.items()}
    layers = {}
    for layer in codebooks.layers:
        tensors[f"codes/{layer.name}"] = _pack(layer.codes, layer.code_bits)
        tensors[f"codebook/{layer.name}"] = layer.codebook.contiguous()
        layers[layer.name] = {"shape": list(layer.shape), "count": layer.codes.numel(), "mse": layer.mse}
    metadata = {"format": "convzoo-weight-codebooks", "layers": json.dumps(layers),
                "skipped": json.dumps(codebooks.skipped)}
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def load_codebooks(path: str | os.PathLike) -> WeightCodebooks:
    """Read a file :func:`save_codebooks` wrote."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as file:
            metadata = file.metadata() or {}
            if metadata.get("format") != "convzoo-weight-codebooks":
                raise ConvzooError(f"{path} is not a weight-codebook file written by convzoo")
            tensors = {key: file.get_tensor(key) for key in file.keys()}
    except (OSError, SafetensorError) as error:  # missing, or not safetensors
        raise ConvzooError(f"cannot read weight codebooks {path}: {error}") from None
    layers = []
    for name, info in json.loads(metadata["layers"]).items():
        codebook = tensors[f"codebook/{name}"]
        bits = max(1, math.ceil(math.log2(codebook.shape[0])))
        codes = _unpack(tensors[f"codes/{name}"], info["count"], bits)
        layers.append(LayerCodebook(name, tuple(info["shape"]), codebook, codes, info["mse"]))
    others = {key.removeprefix("others/"): value for key, value in tensors.items() if key.startswith("others/")}
    return WeightCodebooks(layers, others, json.loads(metadata["skipped"]))
