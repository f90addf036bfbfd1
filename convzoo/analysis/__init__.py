"""Measuring networks: parameters, MACs and FLOPs, memory, receptive fields (theoretical and
effective), conv arithmetic and the course's design comparisons.

The package imports its submodules when one of their names is first asked for (PEP 562), so that
the torch-free ones (conv arithmetic, the design comparisons, the stored model cards) answer the
command line without importing torch.

``profile`` and ``receptive_field`` are both functions and submodules: the package attributes are
the functions, whichever is imported first.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from convzoo.lazy_exports import lazy_exports

# Each public name -> the submodule that defines it.
_SUBMODULE_OF = {
    **dict.fromkeys(("LayerSpec", "check_input_size", "conv_output_size", "conv_transpose_output_size",
                     "explain_conv", "explain_same_padding", "explain_transposed", "explain_valid_sizes",
                     "nearest_valid_sizes", "same_padding", "unet_layers", "unet_valid_sizes", "valid_input_sizes"),
                    "arithmetic"),
    **dict.fromkeys(("ComparisonResult", "ComparisonRow", "compare", "format_comparison", "matmul_gflops",
                     "memory_access_bytes", "plot_comparison"), "compare"),
    **dict.fromkeys(("TOPICS", "explain_topic"), "design"),
    **dict.fromkeys(("ERFResult", "effective_receptive_field", "plot_erf", "square_radius"), "erf"),
    **dict.fromkeys(("Coverage", "LayerStats", "ProfileResult", "format_profile", "profile"), "profile"),
    **dict.fromkeys(("ReceptiveField", "ReceptiveFieldError", "ReceptiveFieldResult", "format_receptive_field",
                     "receptive_field"), "receptive_field"),
    "stage_shapes": "shapes",
}

__all__ = [
    "ComparisonResult", "ComparisonRow", "compare", "format_comparison", "matmul_gflops", "memory_access_bytes",
    "plot_comparison",
    "Coverage", "ERFResult", "LayerSpec", "LayerStats", "ProfileResult", "ReceptiveField", "ReceptiveFieldError",
    "ReceptiveFieldResult", "TOPICS", "check_input_size", "conv_output_size", "conv_transpose_output_size",
    "effective_receptive_field", "explain_conv", "explain_same_padding", "explain_topic", "explain_transposed",
    "explain_valid_sizes", "format_profile", "format_receptive_field", "nearest_valid_sizes", "plot_erf", "profile",
    "receptive_field", "same_padding", "square_radius", "stage_shapes", "unet_layers", "unet_valid_sizes",
    "valid_input_sizes",
]


__getattr__, __dir__ = lazy_exports(__name__, _SUBMODULE_OF)


class _Package(types.ModuleType):
    """Keeps ``profile`` and ``receptive_field`` the functions: importing a submodule binds it as an
    attribute of its package, which would hide the function of the same name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _SUBMODULE_OF.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
