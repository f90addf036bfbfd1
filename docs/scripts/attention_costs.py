"""Prints the cost table of docs/attention.md from the library itself.

    python docs/scripts/attention_costs.py
"""

from __future__ import annotations

from convzoo.analysis import profile
from convzoo.registry import meta_model

# Gates and context blocks that can follow any residual branch (SK and split attention replace
# the 3x3 conv instead, so they appear below as the networks of their papers).
DROP_IN = ("se", "gc", "cbam", "cc", "da", "nonlocal")
NETWORKS = (("seresnet50", "resnet50"), ("skresnext50_32x4d", "resnext50_32x4d"), ("resnest50d", "resnet50"))
INPUT = (3, 224, 224)


def _row(label: str, name: str, base: str, **kwargs) -> str:
    ours, theirs = profile(meta_model(name, **kwargs), INPUT), profile(meta_model(base), INPUT)
    return (
        f"| {label} | {ours.params / 1e6:.2f} M | {(ours.params - theirs.params) / 1e6:+.2f} M "
        f"| {ours.macs / 1e9:.3f} | {ours.macs / theirs.macs:.3f}x |"
    )


def attention_costs() -> str:
    lines = [
        "| network (224x224) | parameters | vs its base | GMACs | MACs vs base |",
        "|---|---|---|---|---|",
        _row("resnet50", "resnet50", "resnet50"),
    ]
    lines += [_row(f"resnet50, `attn_layer='{attn}'`", "resnet50", "resnet50", attn_layer=attn) for attn in DROP_IN]
    lines += [_row(f"{name} (base {base})", name, base) for name, base in NETWORKS]
    return "\n".join(lines)


if __name__ == "__main__":
    print(attention_costs())
