"""CASIA-B's tree read from PNGs the test writes: sequences, lazy preprocessed frames, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from gait_trees import write_casia_b_tree
from PIL import Image

from convzoo.data.gait import CasiaB, GaitSequence, GaitSource, preprocess_silhouette
from convzoo.errors import ConvzooError


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_casia_b_tree(tmp_path_factory.mktemp("casia") / "silhouettes", subjects=2, views=(0, 90), frames=3)


def test_sequences_are_found_and_sorted(tree):
    source = CasiaB(tree)
    assert isinstance(source, GaitSource) and source.name == "casia-b"
    assert len(source.sequences) == 2 * 10 * 2
    assert source.sequences == sorted(source.sequences)
    assert source.sequences[0] == GaitSequence("001", "bg", 1, 0)
    assert source.sequences[-1].name == "002/nm-06/090" and source.folder(len(source) - 1) == tree / "002/nm-06/090"


def test_frames_are_the_preprocessed_pngs_in_name_order(tree):
    source = CasiaB(tree)
    i = source.sequences.index(GaitSequence("002", "cl", 2, 90))
    files = sorted((tree / "002/cl-02/090").glob("*.png"))
    expected = np.stack([preprocess_silhouette(np.asarray(Image.open(path))) for path in files])
    frames = source.frames(i)
    assert frames.shape == (3, 64, 44) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, expected)


def test_empty_frames_are_dropped_and_an_empty_sequence_is_an_error(tmp_path):
    root = write_casia_b_tree(tmp_path, subjects=1, views=(90,), frames=3)
    Image.fromarray(np.zeros((240, 320), np.uint8)).save(root / "001/nm-01/090/001-nm-01-090-000.png")
    source = CasiaB(root)
    assert source.frames(source.sequences.index(GaitSequence("001", "nm", 1, 90))).shape == (3, 64, 44)
    for path in (root / "001/bg-02/090").glob("*.png"):
        Image.fromarray(np.zeros((240, 320), np.uint8)).save(path)
    with pytest.raises(ConvzooError, match="every frame of the CASIA-B sequence .*001/bg-02/090 is empty"):
        CasiaB(root).frames(source.sequences.index(GaitSequence("001", "bg", 2, 90)))


def test_frames_are_read_only_when_asked(tmp_path):
    """An unreadable PNG is found when its sequence is read, not when the tree is listed."""
    root = write_casia_b_tree(tmp_path, subjects=1, views=(90,), frames=2)
    broken = root / "001/cl-01/090/001-cl-01-090-002.png"
    broken.write_bytes(b"not a png")
    source = CasiaB(root)
    assert source.frames(source.sequences.index(GaitSequence("001", "nm", 1, 90))).shape == (2, 64, 44)
    with pytest.raises(ConvzooError, match=f"cannot read the silhouette {broken}"):
        source.frames(source.sequences.index(GaitSequence("001", "cl", 1, 90)))


def test_preprocessed_frames_pass_unchanged(tmp_path):
    frames = np.zeros((4, 64, 44), np.uint8)
    for t in range(4):
        frames[t, 5 + t:60, 10:30 + t] = 255
        frames[t, 5 + t, 10] = 128  # a grey pixel at the edge
    folder = tmp_path / "007/nm-03/036"
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"007-nm-03-036-{t:03d}.png")
    np.testing.assert_array_equal(CasiaB(tmp_path).frames(0), frames)


def test_other_folders_and_empty_sequence_folders_are_skipped(tmp_path):
    root = write_casia_b_tree(tmp_path, subjects=1, views=(0,), frames=1)
    (root / "001/nm-01/018").mkdir()  # a view folder with no frame (CASIA-B has a few)
    (root / "001/extra/090").mkdir(parents=True)
    (root / "README.txt").write_text("CASIA-B")
    assert len(CasiaB(root).sequences) == 10


def test_a_missing_or_empty_root_is_one_line(tmp_path):
    with pytest.raises(ConvzooError, match=f"CASIA-B root {tmp_path / 'nowhere'} is not a folder"):
        CasiaB(tmp_path / "nowhere")
    (tmp_path / "001/walk/090").mkdir(parents=True)
    with pytest.raises(ConvzooError, match=f"no CASIA-B sequence under {tmp_path}"):
        CasiaB(tmp_path)
