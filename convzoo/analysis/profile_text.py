"""A complexity profile's totals as text, read from its dict (:meth:`ProfileResult.to_dict`).

Torch-free, so that ``convzoo info`` prints them from the stored model cards
(:mod:`convzoo.analysis.model_cards`) without importing torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["human", "human_bytes", "profile_lines"]


def human(n: float, unit: str = "") -> str:
    """``25_557_032`` -> ``"25.56M"``."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


def human_bytes(n: int) -> str:
    """``1536`` -> ``"1.50 KiB"``."""
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n} B"


def profile_lines(profile: dict[str, Any], layers: bool = False) -> list[str]:
    """A profile as text: one row per layer when ``layers`` (the dict must hold them), then the totals."""
    return [*_layer_lines(profile["layers"]), *_totals_lines(profile)] if layers else _totals_lines(profile)


def _layer_lines(layers: list[dict[str, Any]]) -> list[str]:
    rows = [
        (
            layer["name"],
            layer["type"] + ("" if layer["counted"] else " *"),
            "x".join(str(d) for d in layer["output_shape"]),
            f"{layer['params']:,}",
            f"{layer['macs']:,}",
            f"{layer['other_ops']:,}",
            human_bytes(layer["activation_bytes"]),
        )
        for layer in layers
    ]
    header = ("layer", "type", "output", "params", "MACs", "other ops", "activations")
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    right = {3, 4, 5, 6}  # the numbers

    def fmt(row: tuple) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    lines = [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows), ""]
    if not all(layer["counted"] for layer in layers):
        lines.append("* no formula for this module type: only its conv/matmul/point-wise ops counted")
    return lines


def _totals_lines(profile: dict[str, Any]) -> list[str]:
    shape = "x".join(str(d) for d in profile["input_shape"])
    return [
        f"input:             {shape} ({profile['device']})",
        f"params:            {profile['params']:,} ({human(profile['params'])})",
        f"MACs:              {profile['macs']:,} ({human(profile['macs'])}; conv + linear + matmul)",
        f"FLOPs:             {profile['flops']:,} ({human(profile['flops'])}; FLOPs = 2 x MACs)",
        f"other ops:         {profile['other_ops']:,} ({human(profile['other_ops'])}; norms, activations, pooling, "
        f"element-wise)",
        f"activation memory: {human_bytes(profile['activation_bytes'])} (leaf-layer outputs, each storage once, "
        f"none freed)",
        profile["coverage"]["summary"],
    ]
