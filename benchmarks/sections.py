"""Writing a benchmark's results into BENCHMARKS.md: a section replaced in place, or appended."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_section"]


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the section titled ``title`` (up to the next ``## `` heading) in ``path`` by ``text``, or append it."""
    content = path.read_text() if path.exists() else ""
    if title in content:
        start = content.index(title)
        end = content.find("\n## ", start + len(title))
        content = content[:start] + text + (content[end + 1:] if end != -1 else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    path.write_text(content)
