"""Writing the site: the model index and pages from the stored model cards, the operator and attention
pages from the library's own measurements, and the docs' figures.

Paths inside the site are relative, so the folder opens from the disk (``file://``) or any static host.
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path
from typing import Any

from convzoo.analysis.model_cards import rf_text, rf_value, stored_cards
from convzoo.analysis.profile_text import human, human_bytes
from convzoo.site.html import INDEX_SCRIPT, escape, link, page, slug, table

__all__ = ["ATTENTION_SHAPE", "DOCS", "build_site"]

DOCS = Path(__file__).resolve().parents[2] / "docs"  # a checkout's docs; an installed package has none
ATTENTION_SHAPE = (256, 56, 56)  # a block alone: ResNet-50's first stage
# SK and split attention replace the 3x3 conv rather than follow a branch: their papers' networks show them.
ATTENTION_NETWORKS = {"sk": ("skresnext50_32x4d", "resnext50_32x4d"), "splat": ("resnest50d", "resnet50")}


def build_site(out: Path, docs: Path | None = DOCS) -> list[Path]:
    """Write the site into ``out``; returns the pages written. ``docs``: the folder whose ``images/``
    figures (with their captions from its Markdown pages) the site shows, if it exists."""
    cards = stored_cards()
    pages = {Path("index.html"): index_page(cards)}
    pages.update({Path("models", f"{name}.html"): model_page(card) for name, card in cards.items()})
    pages.update(_operator_pages())
    pages.update(_attention_pages(cards))
    pages[Path("figures.html")] = _figures_page(out, docs)
    for relative, text in pages.items():
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_text(text, encoding="utf-8")
    return [out / relative for relative in pages]


def _rf_number(field: dict[str, Any] | None) -> str:
    """The receptive field as a sort key: global sorts last, none (feature vectors) first."""
    if field is None:
        return "-1"
    if field["global"]:
        return "Infinity"
    size = field["size"]
    return str(max(size) if isinstance(size, list) else size)


def _rf_cell(field: dict[str, Any] | None) -> str:
    if field is None:
        return "-"
    return "global" if field["global"] else escape(rf_value(field["size"]))


def _weights(card: dict[str, Any]) -> str:
    return ", ".join(f"{library} <code>{escape(name)}</code>" for library, name in
                     (("torchvision", card["torchvision_name"]), ("timm", card["timm_name"])) if name) or "-"


def index_page(cards: dict[str, dict[str, Any]]) -> str:
    columns = [("name", "model", False), ("family", "family", False), ("task", "task", False),
               ("year", "year", True), ("params", "parameters", True), ("macs", "MACs", True),
               ("rf", "receptive field", True), ("weights", "weights load from", False)]
    number = ' class="number"'
    header = "".join(f'<th data-key="{key}" aria-sort="none"{number if numeric else ""}>'
                     f'<button type="button">{escape(label)}</button></th>' for key, label, numeric in columns)
    rows = []
    for name, card in sorted(cards.items()):
        data = {"name": name, "family": card["family"], "task": card["task"], "year": card["paper"]["year"],
                "params": card["params"], "macs": card["profile"]["macs"], "rf": _rf_number(card["receptive_field"]),
                "weights": " ".join(n for n in (card["torchvision_name"], card["timm_name"]) if n)}
        attributes = " ".join(f'data-{key}="{escape(value)}"' for key, value in data.items())
        cells = [link(f"models/{name}.html", name), escape(card["family"]), escape(card["task"]),
                 escape(card["paper"]["year"]), f"{card['params']:,}", escape(human(card["profile"]["macs"])),
                 _rf_cell(card["receptive_field"]), _weights(card)]
        right = {3, 4, 5, 6}
        rows.append(f"<tr {attributes}>" + "".join(
            f'<td class="number">{cell}</td>' if i in right else f"<td>{cell}</td>" for i, cell in enumerate(cells))
            + "</tr>")
    families = sorted({card["family"] for card in cards.values()})
    options = '<option value="">all families</option>' + "".join(
        f'<option value="{escape(f)}">{escape(f)}</option>' for f in families)
    body = (
        "<p>Every registered model at its default input: parameters, multiply-accumulates, the receptive field of "
        "its last feature map (a dense predictor's: of an output pixel), and the libraries whose weights load "
        "with identical outputs. Click a column to sort by it.</p>\n"
        '<div class="controls"><label>name <input id="filter" type="search"></label>'
        f'<label>family <select id="family">{options}</select></label><span id="count"></span></div>\n'
        f'<table id="models"><thead><tr>{header}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )
    return page("convzoo model zoo", body, script=INDEX_SCRIPT)


def _note_items(notes: dict[str, Any]) -> str:
    items = []
    for key, value in notes.items():
        shown = _note_items(value) if isinstance(value, dict) else escape(value)
        items.append(f"<li><b>{escape(key)}</b>: {shown}</li>")
    return f"<ul>{''.join(items)}</ul>"


def model_page(card: dict[str, Any]) -> str:
    paper, complexity = card["paper"], card["profile"]
    shape = "x".join(map(str, card["input_size"]))
    facts = [
        ("family", escape(card["family"])), ("task", escape(card["task"])),
        ("paper", f'{link(paper["url"], paper["title"])} ({escape(paper["authors"])}, {escape(paper["venue"])} '
                  f'{escape(paper["year"])})'),
        ("default input", f"{shape}" + (f", {card['num_classes']} classes" if card["num_classes"] else "")),
        ("parameters", f"{card['params']:,} ({human(card['params'])})"),
        ("MACs", f"{complexity['macs']:,} ({human(complexity['macs'])}); FLOPs = 2 x MACs"),
        ("activation memory", escape(human_bytes(complexity["activation_bytes"]))),
        ("receptive field", escape(rf_text(card["receptive_field"])) if card["receptive_field"] else "-"),
        ("weights load from", _weights(card)),
    ]
    body = table(["", ""], [[escape(key), value] for key, value in facts])
    body += "<h2>Stage shapes</h2>" + table(
        ["stage", "shape"], [[escape(stage), "x".join(map(str, dims))] for stage, dims in card["stages"].items()])
    if card["deviations"]:
        body += f"<h2>Deviations from the paper</h2><p>{escape(card['deviations'])}</p>"
    if card["notes"]:
        body += f"<h2>Notes</h2>{_note_items(card['notes'])}"
    body += f"<p>{escape(complexity['coverage']['summary'])}. <code>convzoo info {escape(card['name'])}</code> " \
            "prints this card.</p>"
    return page(card["name"], body, root="../")


def _operator_pages() -> dict[Path, str]:
    from convzoo.analysis.operators import operator_table

    channels, kernel, size = 64, 3, (56, 56)
    rows = operator_table(channels, channels, kernel, size)
    shape = f"{channels} -> {channels} channels, kernel {kernel}, input {size[0]}x{size[1]}"
    pages, lines = {}, []
    for row in rows:
        cost = ["-", "-", "-", "-"] if row.params is None else [
            f"{row.params:,}", f"{row.params_ratio:.3f}", f"{row.macs:,}", f"{row.macs_ratio:.3f}"]
        lines.append([link(f"operators/{slug(row.name)}.html", row.name), *cost, escape(row.summary)])
        facts = [["what it is", escape(row.summary)], ["parameters", cost[0]], ["parameters / Conv2d's", cost[1]],
                 ["MACs", cost[2]], ["MACs / Conv2d's", cost[3]]] + ([["note", escape(row.note)]] if row.note else [])
        pages[Path("operators", f"{slug(row.name)}.html")] = page(
            row.name, f"<p>As a stand-in for a standard conv at {escape(shape)}.</p>" + table(["", ""], facts),
            root="../")
    body = (f"<p>Every operator of <code>convzoo.ops</code>'s catalogue as a stand-in for a dense conv, {escape(shape)}"
            "; <code>convzoo ops</code> computes the table for other shapes.</p>"
            + table(["operator", "parameters", "x conv", "MACs", "x conv", "what it is"], lines, numbers=(1, 2, 3, 4)))
    pages[Path("operators.html")] = page("Convolution operators", body)
    return pages


def _block_summary(module_name: str) -> tuple[str, str]:
    """The first line of a block module's docstring and its paper line."""
    doc = importlib.import_module(f"convzoo.blocks.{module_name}").__doc__ or ""
    paper = re.search(r"Paper: (.+?)(?:\n\n|$)", doc, re.S)
    return doc.strip().splitlines()[0], " ".join(paper.group(1).split()) if paper else ""


def _attention_pages(cards: dict[str, dict[str, Any]]) -> dict[Path, str]:
    import torch

    from convzoo.analysis.profile import profile
    from convzoo.blocks.attention import ATTENTION_BLOCKS, get_attn
    from convzoo.registry import meta_model

    channels, height, width = ATTENTION_SHAPE
    base = cards["resnet50"]["profile"]
    pages, lines = {}, []
    for name, (module_name, _, _) in ATTENTION_BLOCKS.items():
        with torch.device("meta"):
            alone = profile(get_attn(name)(channels), ATTENTION_SHAPE)
        if name in ATTENTION_NETWORKS:
            network, reference = ATTENTION_NETWORKS[name]
            ours, theirs = cards[network]["profile"], cards[reference]["profile"]
        else:
            network, reference = f"resnet50, attn_layer='{name}'", "resnet50"
            ours, theirs = profile(meta_model("resnet50", attn_layer=name), (3, 224, 224)).to_dict(), base
        summary, paper = _block_summary(module_name)
        in_network = (f"{human(ours['params'])} parameters ({ours['params'] - theirs['params']:+,} against "
                      f"{reference}), {human(ours['macs'])} MACs ({ours['macs'] / theirs['macs']:.3f}x)")
        lines.append([link(f"attention/{name}.html", name), escape(summary), f"{alone.params:,}", f"{alone.macs:,}",
                      escape(network), escape(in_network)])
        facts = [["block", escape(summary)], ["paper", escape(paper) or "-"],
                 [f"alone at {channels}x{height}x{width}", f"{alone.params:,} parameters, {alone.macs:,} MACs"],
                 [escape(network), escape(in_network)]]
        pages[Path("attention", f"{name}.html")] = page(f"Attention block: {name}", table(["", ""], facts), root="../")
    body = (f"<p>Every block <code>get_attn(name)</code> builds, alone at {channels} channels on a {height}x{width} "
            "map, and in the network of 224x224 images that carries it.</p>"
            + table(["name", "block", "parameters", "MACs", "network", "in the network"], lines, numbers=(2, 3)))
    pages[Path("attention.html")] = page("Attention blocks", body)
    return pages


def _figures_page(out: Path, docs: Path | None) -> str:
    images = sorted((docs / "images").glob("*.png")) if docs is not None and (docs / "images").is_dir() else []
    if not images:
        return page("Figures", "<p>No figures: the docs folder of a convzoo checkout holds them.</p>")
    captions = {}
    for markdown in sorted(docs.glob("*.md")):
        for alt, target in re.findall(r"!\[([^\]]*)\]\(images/([^)]+)\)", markdown.read_text(encoding="utf-8")):
            captions.setdefault(target, (alt, markdown.name))
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figures = []
    for image in images:
        shutil.copyfile(image, out / "figures" / image.name)
        alt, source = captions.get(image.name, (image.stem.replace("_", " "), ""))
        origin = f" (docs/{escape(source)})" if source else ""
        figures.append(f'<figure><img src="figures/{escape(image.name)}" alt="{escape(alt)}">'
                       f"<figcaption>{escape(alt)}{origin}</figcaption></figure>")
    return page("Figures", "".join(figures))
