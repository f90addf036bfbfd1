"""The data of a video run: generated moving digits, UCF101, a Kinetics-style CSV, or folders of frames.

Every dataset gives a training, a validation and a test split of ``(clip, label)`` items,
clips ``(C, T, H, W)``:

* ``moving-digits`` (the default; :mod:`convzoo.data.video.moving_digits`): ``--video-clips``
  generated training clips (an eighth as many for validation and for test, each split its
  own digits), ``--clip-length`` frames of ``--image-size`` pixels (default 32), gray. Each
  clip is its own video. Not augmented: a mirrored clip moving east moves west, another class.
* ``ucf101``: ``--data-dir`` holds UCF101's class folders and ``ucfTrainTestlist/``;
  ``--split`` (1-3) picks its lists. UCF101 has no validation list, so the validation split
  is the test list's videos with one centre clip each: watched during training, it chooses
  nothing (the run keeps its last epoch).
* ``kinetics``: ``--data-dir`` holds ``train.csv`` and ``val.csv`` (columns path, label and
  optionally start, end in seconds) and, if there is one, ``test.csv``; without it the test
  split is ``val.csv``'s videos.
* ``frames``: ``--data-dir`` holds ``train/`` and ``val/`` (and optionally ``test/``), each
  ``<class>/<video>/<frame images>``.

Real videos are decoded a clip at a time (:class:`~convzoo.data.video.clips.VideoClipDataset`):
a training video gives one random clip per epoch, ``--frame-stride`` frames apart; each test
video ``--eval-clips`` evenly spaced clips, whose scores :mod:`~convzoo.tasks.video.scoring`
averages into the video's. Frames are resized so their shorter side is 128/112 of
``--image-size`` (default 112: torchvision's recipe, 128 then a 112 crop), cropped (random
crop and flip when training, centre crop otherwise) and normalised with Kinetics-400's mean
and std, the statistics torchvision's video weights were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import Dataset

from convzoo.data.video import load_frame_folders, load_kinetics_csv, load_ucf101, moving_digits_splits
from convzoo.data.video.clips import VideoClipDataset
from convzoo.data.video.moving_digits import CLASS_NAMES, SIDE
from convzoo.data.video.sampling import KINETICS_MEAN, KINETICS_STD, VideoTransform
from convzoo.errors import ConvzooError
from convzoo.tasks.video.flags import DATASETS
from convzoo.train.config import TrainConfig

__all__ = ["DEFAULT_DATASET", "VideoData", "load_video_data", "short_side_for", "video_settings"]

DEFAULT_DATASET = "moving-digits"
REAL_CROP = 112  # torchvision's video models: shorter side 128, crop 112
SHORT_SIDE_RATIO = 128 / 112
HELD_OUT_SHARE = 8  # moving digits: val and test get 1/8 of the training clips each


@dataclass
class VideoData:
    """The splits of a video dataset, and what a checkpoint needs to read clips as they were trained on.

    Attributes:
        train, val, test: datasets of ``(clip, label)``.
        class_names: label ``i`` is ``class_names[i]``.
        clip_shape: ``(C, T, H, W)`` of every clip.
        mean, std: per-channel statistics the clips were normalised with.
        short_side: the frames' shorter side before the crop (the crop side for moving digits).
    """

    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    clip_shape: tuple[int, int, int, int]
    mean: list[float]
    std: list[float]
    short_side: int

    @property
    def in_chans(self) -> int:
        return self.clip_shape[0]


def video_settings(config: TrainConfig) -> dict[str, Any]:
    """The data settings of a run's flags, as :func:`load_video_data` takes them (and ``task_args`` keeps them)."""
    return {
        "dataset": config.dataset or DEFAULT_DATASET,
        "data_dir": str(config.data_dir) if config.data_dir is not None else None,
        "in_chans": config.model_kwargs.get("in_chans"), "image_size": config.image_size,
        "clip_length": config.clip_length, "frame_stride": config.frame_stride, "eval_clips": config.eval_clips,
        "split": config.split, "video_clips": config.video_clips, "seed": config.seed,
    }


def short_side_for(crop: int) -> int:
    """The shorter side frames are resized to before a ``crop`` x ``crop`` crop (128 for 112)."""
    return round(crop * SHORT_SIDE_RATIO)


def _moving_digits(settings: dict[str, Any], augment: bool) -> VideoData:
    if settings["frame_stride"] != 1:
        raise ConvzooError("moving digits are generated one frame per step; --frame-stride is for video files")
    side = settings["image_size"] or SIDE
    in_chans = settings["in_chans"] or 1
    train = settings["video_clips"]
    counts = {"train": train, "val": train // HELD_OUT_SHARE, "test": train // HELD_OUT_SHARE}
    splits = moving_digits_splits(seed=settings["seed"], frames=settings["clip_length"], side=side,
                                  in_chans=in_chans, counts=counts)
    return VideoData(
        train=splits["train"], val=splits["val"], test=splits["test"], class_names=list(CLASS_NAMES),
        clip_shape=(in_chans, settings["clip_length"], side, side), mean=[0.0] * in_chans, std=[1.0] * in_chans,
        short_side=side,
    )


@dataclass(frozen=True)
class _ClipOptions:
    """How a real dataset's splits cut and transform clips."""

    clip_length: int
    stride: int
    eval_clips: int
    train_transform: VideoTransform
    eval_transform: VideoTransform

    def train(self) -> dict[str, Any]:
        return dict(clip_length=self.clip_length, stride=self.stride, mode="random", transform=self.train_transform)

    def val(self) -> dict[str, Any]:
        return dict(clip_length=self.clip_length, stride=self.stride, mode="uniform", clips_per_video=1,
                    transform=self.eval_transform)

    def test(self) -> dict[str, Any]:
        return dict(clip_length=self.clip_length, stride=self.stride, mode="uniform",
                    clips_per_video=self.eval_clips, transform=self.eval_transform)


def _clip_options(settings: dict[str, Any], augment: bool) -> _ClipOptions:
    if (settings["in_chans"] or 3) != 3:
        raise ConvzooError(f"--dataset {settings['dataset']} gives RGB clips (3 channels), not {settings['in_chans']}")
    crop = settings["image_size"] or REAL_CROP
    short_side = short_side_for(crop)
    return _ClipOptions(
        clip_length=settings["clip_length"], stride=settings["frame_stride"], eval_clips=settings["eval_clips"],
        train_transform=VideoTransform(short_side, crop, train=augment),
        eval_transform=VideoTransform(short_side, crop, train=False),
    )


def _data_dir(settings: dict[str, Any], expected: str) -> Path:
    if settings["data_dir"] is None:
        raise ConvzooError(f"--dataset {settings['dataset']} reads files: give --data-dir, {expected}")
    root = Path(settings["data_dir"])
    if not root.is_dir():
        raise ConvzooError(f"--data-dir {root} is not a folder; expected {expected}")
    return root


def _real_data(options: _ClipOptions, train: VideoClipDataset, val: VideoClipDataset,
               test: VideoClipDataset) -> VideoData:
    crop = options.eval_transform.crop_size
    return VideoData(
        train=train, val=val, test=test, class_names=list(train.classes),
        clip_shape=(3, options.clip_length, crop, crop), mean=list(KINETICS_MEAN), std=list(KINETICS_STD),
        short_side=options.eval_transform.short_side,
    )


def _ucf101(settings: dict[str, Any], augment: bool) -> VideoData:
    root = _data_dir(settings, "the folder of UCF101's class folders, with ucfTrainTestlist/ in it")
    options = _clip_options(settings, augment)
    split = settings["split"]
    return _real_data(
        options,
        train=load_ucf101(root, split=split, train=True, **options.train()),
        val=load_ucf101(root, split=split, train=False, **options.val()),
        test=load_ucf101(root, split=split, train=False, **options.test()),
    )


def _kinetics(settings: dict[str, Any], augment: bool) -> VideoData:
    root = _data_dir(settings, "a folder with train.csv and val.csv (path,label[,start,end]) and the videos")
    options = _clip_options(settings, augment)
    train = load_kinetics_csv(root / "train.csv", **options.train())
    test_csv = root / "test.csv" if (root / "test.csv").is_file() else root / "val.csv"
    return _real_data(
        options, train=train,
        val=load_kinetics_csv(root / "val.csv", classes=train.classes, **options.val()),
        test=load_kinetics_csv(test_csv, classes=train.classes, **options.test()),
    )


def _same_classes(train: VideoClipDataset, other: VideoClipDataset, folder: Path) -> VideoClipDataset:
    if other.classes != train.classes:
        raise ConvzooError(f"{folder} has the class folders {other.classes}, but train/ has {train.classes}")
    return other


def _frames(settings: dict[str, Any], augment: bool) -> VideoData:
    root = _data_dir(settings, "a folder with train/ and val/ (and test/), each <class>/<video>/<frames>")
    options = _clip_options(settings, augment)
    train = load_frame_folders(root / "train", **options.train())
    test_folder = root / "test" if (root / "test").is_dir() else root / "val"
    return _real_data(
        options, train=train,
        val=_same_classes(train, load_frame_folders(root / "val", **options.val()), root / "val"),
        test=_same_classes(train, load_frame_folders(test_folder, **options.test()), test_folder),
    )


# The loader of each of flags.DATASETS.
LOADERS: dict[str, Callable[[dict[str, Any], bool], VideoData]] = dict(zip(DATASETS, (
    _moving_digits, _ucf101, _kinetics, _frames,
), strict=True))


def load_video_data(settings: dict[str, Any], *, augment: bool = False) -> VideoData:
    """The splits a run's (or a checkpoint's) data settings describe; ``augment``: random crops and flips of
    real training clips."""
    dataset = settings["dataset"]
    if dataset not in LOADERS:
        raise ConvzooError(f"unknown video dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return LOADERS[dataset](settings, augment)
