"""Exceptions raised by convzoo.

Every error a user can cause derives from :class:`ConvzooError`, so the command line
can print its message as one line and exit non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConvzooError(Exception):
    """Base class of the errors a user can cause and fix."""


class UnknownModelError(ConvzooError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])

    @classmethod
    def suggesting(cls, name: str, known: Iterable[str]) -> UnknownModelError:
        """The error for ``name``, naming the closest of the ``known`` names."""
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `convzoo list` shows them all"
        return cls(f"unknown model {name!r}{hint}")


class InputShapeError(ConvzooError, ValueError):
    """An input tensor whose shape the model cannot take."""


class CheckpointError(ConvzooError, ValueError):
    """A checkpoint file that is missing, corrupt, unsafe or of an unknown format."""


class WeightMismatchError(ConvzooError, ValueError):
    """A state dict whose keys or shapes do not fit the model."""
