"""Parameters and MACs of every :mod:`convzoo.ops` operator beside a standard conv of the same shape.

Each entry of :data:`convzoo.ops.catalog.OPERATORS` is built on the meta device for one
``(in_channels, out_channels, kernel_size)`` and profiled at one input size; the ratios to
the dense ``k x k`` conv show what each operator saves (or spends) for the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from convzoo.analysis.profile import profile
from convzoo.ops.catalog import OPERATORS, standard_conv

__all__ = ["OperatorRow", "format_operator_table", "operator_table"]


@dataclass(frozen=True)
class OperatorRow:
    """One operator's cost; ``params`` and ``macs`` are ``None`` when it cannot take the shape (``note`` says why)."""

    name: str
    summary: str
    params: int | None
    macs: int | None
    params_ratio: float | None
    macs_ratio: float | None
    note: str = ""


def operator_table(
    in_channels: int = 64, out_channels: int = 64, kernel_size: int = 3, size: tuple[int, int] = (56, 56)
) -> list[OperatorRow]:
    """Every catalogued operator's parameters and MACs for one shape, and their ratios to a standard conv."""
    input_size = (in_channels, *size)
    with torch.device("meta"):
        reference = profile(standard_conv(in_channels, out_channels, kernel_size), input_size)
    rows = []
    for entry in OPERATORS:
        try:
            with torch.device("meta"):
                result = profile(entry.build(in_channels, out_channels, kernel_size), input_size)
        except ValueError as err:
            rows.append(OperatorRow(entry.name, entry.summary, None, None, None, None, str(err)))
            continue
        rows.append(OperatorRow(
            entry.name, entry.summary, result.params, result.macs,
            result.params / reference.params, result.macs / reference.macs,
        ))
    return rows


def format_operator_table(rows: list[OperatorRow], in_channels: int, out_channels: int, kernel_size: int,
                          size: tuple[int, int]) -> str:
    """A plain-text table, one operator a line."""
    width = max(len(row.name) for row in rows)
    lines = [
        f"{in_channels} -> {out_channels} channels, kernel {kernel_size}, input {size[0]}x{size[1]} "
        f"(MACs = multiply-accumulates; ratios against Conv2d)",
        f"{'operator':<{width}}  {'params':>12}  {'x conv':>7}  {'MACs':>14}  {'x conv':>7}  what it is",
    ]
    for row in rows:
        if row.params is None:
            lines.append(f"{row.name:<{width}}  {'-':>12}  {'-':>7}  {'-':>14}  {'-':>7}  {row.note}")
            continue
        lines.append(
            f"{row.name:<{width}}  {row.params:>12,}  {row.params_ratio:>7.3f}  {row.macs:>14,}  "
            f"{row.macs_ratio:>7.3f}  {row.summary}"
        )
    return "\n".join(lines)
