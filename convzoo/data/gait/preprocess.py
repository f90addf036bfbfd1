"""CASIA-B's silhouette preprocessing: the body cropped, scaled to 64 rows, centred and cut to 64x44.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186, Sec. 4.1 (the preprocessing of its release)

A raw silhouette (any size, the body white on black) becomes a 64x44 frame:

1. threshold at :data:`THRESHOLD`; a frame with fewer than :data:`MIN_PIXELS` body pixels is
   empty (the release dropped frames whose pixels sum to at most 10,000, about 40 white pixels);
2. crop to the rows (and columns) that hold the body;
3. resize to height 64, keeping the aspect ratio (antialiased, so edges are grey);
4. find the column that splits the white mass in half and cut a 64-wide window centred on it,
   black where the window leaves the image;
5. cut 10 columns off each side (the release's loader did this to its 64x64 frames): 64x44.

A frame already 64x44 is taken as preprocessed and passed through unchanged (only the empty
check applies), so a tree of the release's preprocessed frames reads as it is.

Deviations:
    Step 2 also crops the columns before resizing (the release resized the full width of the
    row crop): the columns outside the body are black either way, and cropping them makes the
    resampling grid start at the body, so a silhouette shifted by whole pixels gives exactly
    the same frame. Resizing is PIL's antialiased bilinear (the release used OpenCV's cubic).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from convzoo.errors import ConvzooError

__all__ = ["FRAME_SHAPE", "MIN_PIXELS", "SIDE_CUT", "THRESHOLD", "preprocess_silhouette"]

FRAME_SHAPE = (64, 44)  # (H, W) of a preprocessed frame
SIDE_CUT = 10  # columns cut off each side of the 64-wide window
THRESHOLD = 128  # a pixel at or above this is body
MIN_PIXELS = 40  # fewer body pixels than this: an empty frame


def _centre_column(image: np.ndarray) -> int:
    """The first column at which the cumulated column mass passes half of the total."""
    cumulated = image.sum(axis=0, dtype=np.float64).cumsum()
    return int(np.searchsorted(cumulated, cumulated[-1] / 2, side="right"))


def preprocess_silhouette(image: np.ndarray, *, min_pixels: int = MIN_PIXELS) -> np.ndarray | None:
    """A gray (or boolean) silhouette of any size as a uint8 ``(64, 44)`` frame; None if it is empty.

    Args:
        image: ``(H, W)`` the body bright on black (uint8, bool or float in [0, 255]).
        min_pixels: body pixels below which the frame is empty.

    Shape:
        ``(H, W)`` -> ``(64, 44)``.
    """
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim != 2:
        raise ConvzooError(f"preprocess_silhouette expects a gray image (H, W), got shape {image.shape}")
    body = image >= THRESHOLD
    if int(body.sum()) < min_pixels:
        return None
    if image.shape == FRAME_SHAPE:
        return image.astype(np.uint8)
    rows, columns = np.flatnonzero(body.any(axis=1)), np.flatnonzero(body.any(axis=0))
    crop = np.where(body, 255, 0).astype(np.uint8)[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    height, width = FRAME_SHAPE[0], max(1, round(crop.shape[1] * FRAME_SHAPE[0] / crop.shape[0]))
    scaled = np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BILINEAR))  # (64, w)
    half = FRAME_SHAPE[0] // 2
    padded = np.pad(scaled, ((0, 0), (half, half)))  # (64, w + 64): a window never leaves the image
    centre = _centre_column(scaled) + half
    window = padded[:, centre - half:centre + half]  # (64, 64)
    return np.ascontiguousarray(window[:, SIDE_CUT:-SIDE_CUT])  # (64, 44)
