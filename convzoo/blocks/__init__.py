"""Reusable blocks: residual, attention, inception branches, dense layers, ..."""
