"""Output paths, checked before any work: one rule for every file and folder convzoo writes.

A command that computes for seconds and then fails to write its result wastes the user's
time. So every output path is prepared first: its missing folders are created, a probe
file shows that the folder can be written, and a path that cannot be used is refused
with a message that names the flag it came from. A command that then fails removes the
folders it created while they are still empty, so a mistake leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convzoo.errors import ConvzooError

__all__ = ["prepare_output_file", "prepare_output_folder", "remove_empty_folders"]


def _create_writable(folder: Path, what: str) -> list[Path]:
    """Create ``folder`` and write a probe file in it (the one test of writability that also holds
    for root); returns the folders created, outermost first."""
    missing = [path for path in (folder, *folder.parents) if not path.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".convzoo-write-test-"):
            pass
    except OSError as error:
        remove_empty_folders([path for path in missing if path.is_dir()])
        raise ConvzooError(f"cannot write {what}: {error.strerror or error}") from None
    return missing


def prepare_output_folder(folder: str | os.PathLike, flag: str = "--out") -> list[Path]:
    """Create ``folder`` (and its parents) and check that it can be written; returns the folders created."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConvzooError(f"{flag} {folder} is a file; expected a folder")
    return _create_writable(folder, f"to {flag} folder {folder}")


def prepare_output_file(path: str | os.PathLike, flag: str = "--out") -> list[Path]:
    """Create ``path``'s parent folders and check that the file can be written; returns the folders created."""
    path = Path(path)
    if path.is_dir():
        raise ConvzooError(f"{flag} {path} is a folder; expected a file path such as {path / 'out.png'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConvzooError(f"cannot write {flag} {path}: the file is read-only")
    return _create_writable(path.parent, f"{flag} {path}")


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (outermost first, as the prepare functions return them), innermost first,
    stopping at the first that is not empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return
