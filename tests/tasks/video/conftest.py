"""A UCF101 tree of moving-digit videos, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from video_trees import write_ucf101


@pytest.fixture(scope="session")
def ucf101_root(tmp_path_factory) -> Path:
    return write_ucf101(tmp_path_factory.mktemp("ucf101") / "UCF101")
