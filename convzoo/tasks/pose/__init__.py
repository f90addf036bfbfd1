"""Human pose estimation (``--task pose``): top-down heatmaps, bottom-up part affinity fields, dense correspondence.

Networks: Stacked Hourglass (Newell, Yang and Deng, ECCV 2016), the simple deconvolution
baseline (Xiao, Wu and Wei, ECCV 2018), OpenPose (Cao, Simon, Wei and Sheikh, CVPR 2017) and
a DensePose-style IUV head (Guler, Neverova and Kokkinos, CVPR 2018). Scored by PCK, MPII's
PCKh and COCO's keypoint AP from the object keypoint similarity
OKS = sum_i exp(-d_i^2 / (2 s^2 k_i^2)) delta(v_i > 0) / sum_i delta(v_i > 0).

The package imports each name's module when the name is first asked for.
"""

from __future__ import annotations

from convzoo.lazy_exports import lazy_exports

__all__ = [
    "Person", "coco_keypoint_eval", "crop_keypoints_to_image", "decode_heatmaps", "flip_test", "group_people",
    "mpii_head_size", "oks", "pck", "pckh",
]

__getattr__, __dir__ = lazy_exports(__name__, {"coco_keypoint_eval": "coco_eval",
                                               "crop_keypoints_to_image": "decoding", "decode_heatmaps": "decoding",
                                               "flip_test": "decoding", "Person": "grouping",
                                               "group_people": "grouping", "oks": "oks", "mpii_head_size": "pck",
                                               "pck": "pck", "pckh": "pck"})
