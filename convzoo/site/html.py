"""The site's HTML: one page template with its inline style and script, and small element helpers.

Every page is a complete HTML5 document with no external resource (no scripts, fonts or style
sheets fetched), so the site opens from the disk with no network.
"""

from __future__ import annotations

import html
from typing import Iterable

__all__ = ["INDEX_SCRIPT", "escape", "link", "page", "slug", "table"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1d1d1f; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
th button { font: inherit; font-weight: bold; border: none; background: none; cursor: pointer; padding: 0; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
nav a { margin-right: 1rem; }
.controls { display: flex; gap: 1rem; align-items: center; }
figure { display: inline-block; margin: 1rem; max-width: 30rem; }
figure img { max-width: 100%; }
code { background: #f2f2f2; padding: 0 0.2rem; }
"""

# Sorting by a column header and filtering by name and family: the index page's controls.
INDEX_SCRIPT = """
const table = document.getElementById("models");
const body = table.tBodies[0];
const rows = Array.from(body.rows);
const filter = document.getElementById("filter");
const family = document.getElementById("family");
let sortKey = null;
let ascending = true;

function applyFilter() {
  const text = filter.value.trim().toLowerCase();
  let shown = 0;
  for (const row of rows) {
    const visible = row.dataset.name.includes(text) && (family.value === "" || row.dataset.family === family.value);
    row.hidden = !visible;
    shown += visible ? 1 : 0;
  }
  document.getElementById("count").textContent = shown + " of " + rows.length + " models";
}

function sortBy(header) {
  const key = header.dataset.key;
  ascending = sortKey === key ? !ascending : true;
  sortKey = key;
  const numeric = header.classList.contains("number");
  const value = (row) => (numeric ? Number(row.dataset[key]) : row.dataset[key]);
  rows.sort((a, b) => {
    const x = value(a);
    const y = value(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  for (const row of rows) {
    body.appendChild(row);
  }
  for (const cell of table.tHead.rows[0].cells) {
    cell.setAttribute("aria-sort", cell === header ? (ascending ? "ascending" : "descending") : "none");
  }
}

for (const header of table.tHead.rows[0].cells) {
  header.querySelector("button").addEventListener("click", () => sortBy(header));
}
filter.addEventListener("input", applyFilter);
family.addEventListener("change", applyFilter);
applyFilter();
"""


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def slug(name: str) -> str:
    """A file name for ``name``: ``"grouped + channel_shuffle"`` -> ``"grouped-channel_shuffle"``."""
    kept = "".join(c if c.isalnum() or c in "_." else "-" for c in name)
    return "-".join(part for part in kept.split("-") if part)


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def table(header: Iterable[str], rows: Iterable[Iterable[str]], numbers: Iterable[int] = ()) -> str:
    """A table of already-escaped cells; the columns in ``numbers`` right-aligned."""
    right = set(numbers)

    def cells(tag: str, values: Iterable[str]) -> str:
        return "".join(f'<{tag} class="number">{v}</{tag}>' if i in right else f"<{tag}>{v}</{tag}>"
                       for i, v in enumerate(values))

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str, root: str = "", script: str = "") -> str:
    """A whole page; ``root`` is the relative path from it to the site's top folder (``""`` or ``"../"``)."""
    nav = " ".join(link(f"{root}{href}", text) for href, text in (
        ("index.html", "models"), ("operators.html", "operators"), ("attention.html", "attention blocks"),
        ("figures.html", "figures")))
    tail = f"<script>{script}</script>" if script else ""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)} - convzoo</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<nav>{nav}</nav>\n<h1>{escape(title)}</h1>\n{body}\n{tail}\n</body>\n</html>\n")
