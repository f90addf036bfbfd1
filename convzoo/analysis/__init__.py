"""Measuring networks: shapes, parameters, MACs, memory, receptive fields."""

from convzoo.analysis.shapes import stage_shapes

__all__ = ["stage_shapes"]
