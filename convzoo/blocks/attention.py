"""One factory for every attention block, by name, so any of them drops into any residual network.

``get_attn("cbam")`` returns a callable that builds the block from a channel count, the
form every ``attn_layer=`` option takes: ``create_model("resnet50", attn_layer="cbam")``
puts CBAM on the residual branch of each of ResNet-50's blocks, before the addition.

===========  ====================================================================
name         block
===========  ====================================================================
``se``       squeeze-and-excitation, r = 16 (:mod:`convzoo.blocks.squeeze_excite`)
``sk``       selective kernel, 3x3 and dilated 3x3 branches (:mod:`.selective_kernel`)
``splat``    split attention, radix 2 (:mod:`.split_attention`)
``nonlocal`` non-local block, embedded Gaussian (:mod:`.non_local`)
``gc``       global context block (:mod:`.global_context`)
``cbam``     channel then spatial attention (:mod:`.cbam`)
``cc``       criss-cross attention, recurrence 2 (:mod:`.criss_cross`)
``da``       dual attention: position and channel modules (:mod:`.dual_attention`)
===========  ====================================================================

Keyword arguments are passed on to the block (``get_attn("se", reduction=8)``).
"""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any, Callable

from torch import nn

__all__ = ["ATTENTION_BLOCKS", "get_attn"]

# name -> (module, class, how the class takes the channel count)
ATTENTION_BLOCKS: dict[str, tuple[str, str, str]] = {
    "se": ("squeeze_excite", "SqueezeExcite.with_reduction", "channels"),
    "sk": ("selective_kernel", "SelectiveKernel", "in_out"),
    "splat": ("split_attention", "SplitAttention", "in_out"),
    "nonlocal": ("non_local", "NonLocalBlock", "channels"),
    "gc": ("global_context", "GlobalContextBlock", "channels"),
    "cbam": ("cbam", "CBAM", "channels"),
    "cc": ("criss_cross", "CrissCrossAttention", "channels"),
    "da": ("dual_attention", "DualAttention", "channels"),
}


def _in_out(block: Callable[..., nn.Module], channels: int, **kwargs: Any) -> nn.Module:
    return block(channels, channels, **kwargs)  # a conv-like block that keeps the width


def get_attn(name: str, **kwargs: Any) -> Callable[[int], nn.Module]:
    """A factory ``channels -> attention block`` for ``name`` (see the table above).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in ATTENTION_BLOCKS:
        raise ValueError(f"unknown attention {name!r}; expected one of {', '.join(ATTENTION_BLOCKS)}")
    module_name, qualname, arity = ATTENTION_BLOCKS[name]
    block: Any = importlib.import_module(f"convzoo.blocks.{module_name}")
    for part in qualname.split("."):
        block = getattr(block, part)
    if arity == "in_out":
        return partial(_in_out, block, **kwargs)
    return partial(block, **kwargs)
