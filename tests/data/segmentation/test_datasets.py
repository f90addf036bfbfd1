"""Loading by name: the table of datasets and the errors every loader shares."""

from __future__ import annotations

import pytest

from convzoo.data.segmentation import SEGMENTATION_DATASETS, load_segmentation_data
from convzoo.errors import ConvzooError


def test_the_names_issue_13_asks_for():
    assert set(SEGMENTATION_DATASETS) >= {
        "scenes",
        "volumes",
        "voc",
        "folder",
        "pet",
        "tiff",
        "msd",
        "stardist",
        "ndev",
        "napari_nuclei",
    }


def test_unknown_name_lists_the_names():
    with pytest.raises(ConvzooError, match=r"unknown segmentation dataset 'vocc'; available: scenes, volumes, voc"):
        load_segmentation_data("vocc")


@pytest.mark.parametrize("name", ["voc", "folder", "pet", "tiff", "msd"])
def test_file_datasets_need_a_data_dir(name):
    with pytest.raises(ConvzooError, match=f"segmentation dataset '{name}' needs --data-dir D holding"):
        load_segmentation_data(name)


@pytest.mark.parametrize("size", [0, -4, 2.5, True])
def test_bad_image_size(size):
    with pytest.raises(ConvzooError, match="image size must be a positive integer"):
        load_segmentation_data("scenes", image_size=size)


def test_channel_count_that_cannot_be_made():
    with pytest.raises(ConvzooError, match="has 3-channel images; a model with in_chans=4 cannot take them"):
        load_segmentation_data("scenes", in_chans=4)
