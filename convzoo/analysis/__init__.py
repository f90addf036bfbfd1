"""Measuring networks: parameters, MACs and FLOPs, memory, receptive fields (theoretical and
effective), conv arithmetic and the course's design comparisons.

``profile`` and ``receptive_field`` are both functions and submodules; the imports below
bind the package attributes to the functions.
"""

from convzoo.analysis.arithmetic import (
    LayerSpec,
    check_input_size,
    conv_output_size,
    conv_transpose_output_size,
    explain_conv,
    explain_same_padding,
    explain_transposed,
    explain_valid_sizes,
    nearest_valid_sizes,
    same_padding,
    unet_layers,
    unet_valid_sizes,
    valid_input_sizes,
)
from convzoo.analysis.compare import (
    ComparisonResult,
    ComparisonRow,
    compare,
    format_comparison,
    matmul_gflops,
    memory_access_bytes,
    plot_comparison,
)
from convzoo.analysis.design import TOPICS, explain_topic
from convzoo.analysis.erf import ERFResult, effective_receptive_field, plot_erf, square_radius
from convzoo.analysis.profile import Coverage, LayerStats, ProfileResult, format_profile, profile
from convzoo.analysis.receptive_field import (
    ReceptiveField,
    ReceptiveFieldError,
    ReceptiveFieldResult,
    format_receptive_field,
    receptive_field,
)
from convzoo.analysis.shapes import stage_shapes

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
