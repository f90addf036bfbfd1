"""Synthetic people: the embedded default of the pose task, drawn offline from a seed.

Every image holds one or several articulated bodies over a photograph, with COCO's 17
keypoints and their visibility flags, and, for every body pixel, the body part it shows
and its (u, v) coordinates on that part (the labels a DensePose-style head learns).
Nothing is downloaded: the backgrounds are crops of the photographs that scikit-image and
scikit-learn ship (:func:`convzoo.data.natural_images.load_denoise_images`, ``natural``),
less the two that show real people (``astronaut`` and ``camera``), who would be people
without labels.

The body (one per person, in units of the person's stature, origin at the pelvis, ``y``
up, ``z`` towards the camera):

* proportions: a torso of 0.29 from the pelvis to the shoulders' midpoint, a neck of
  0.035, a head of radius 0.06, upper/lower arms of 0.165/0.145 (and a hand of 0.05),
  upper/lower legs of 0.245 each, shoulder and hip joints 0.105 and 0.065 off the
  midline; every length is scaled per person by a factor in [0.9, 1.1] and every
  thickness by a build factor in [0.8, 1.25].
* pose: a body yaw in [-180, 180] degrees (0 faces the camera; the person's left is then
  the image's right), a head yaw of up to 45 degrees off the body's, a small lean, and
  per limb a flexion (forwards), an abduction (sideways) and an elbow or knee bend, drawn
  from one of four families: standing (25%), walking (35%, arms swinging against the
  legs), raising one or both arms (20%), and free (20%: any angle within human ranges,
  which includes kicks and crouches); 4 degrees of Gaussian noise on every angle.
* keypoints: shoulders, elbows, wrists, hips, knees and ankles are the joints of the
  chain; nose, eyes and ears are points on the head's sphere placed by the head's yaw,
  so a mirrored person is a plausible person with left and right swapped.
* the person is projected orthographically, rotated in the image plane (8 degrees
  standard deviation, at most 30), scaled to a stature of 30-85% of the image height
  (less with more people) and placed in a slot of its own across the image, so some
  people are cut by the border. Larger people stand in front of smaller ones.

Rendering (numpy, vectorised over each part's bounding box): each of the
:data:`BODY_PARTS` is a tapered capsule (the set of points within a radius that varies
linearly along a segment; the head is a short one, an oval), shaded as a cylinder and
textured: skin, hair, and per person a shirt and trousers of one or two colours, plain,
striped across or along the limb, or noisy; long or short sleeves, hands and shoes.
Parts are painted far to near (painter's algorithm on the parts' depths), so parts hide
parts and people hide people. The background is a crop of a random photograph, flipped
half the time, with brightness, contrast and saturation jitter; the finished image gets
a little Gaussian noise.

Labels:

* keypoints ``(N, 17, 3)``: x, y in pixels (pixel centres at integers) and COCO's
  visibility: 2 where the nearest pixel shows one of the keypoint's own parts of its own
  person (the upper arm or torso for a shoulder, the head for a face point that faces the
  camera), 1 where it lies in the image but something else is in front (another part, or
  another person; a face point on the far side of the head is hidden by the head itself),
  0 outside the image, stored as ``(0, 0, 0)`` as COCO stores unlabelled points.
* parts ``(H, W)``: 0 for background, ``k + 1`` for ``BODY_PARTS[k]`` of the frontmost
  person; instances ``(H, W)``: 0 for background, ``i + 1`` for person ``i``.
* uv ``(2, H, W)`` in [0, 1], 0 on the background. ``u`` runs along the part's axis from
  the proximal end of the capsule (the end at the shoulder, elbow, hip, knee, pelvis or
  chin) to the distal end, caps included; ``v`` runs across it, 0.5 on the axis and 0 and
  1 on the two silhouette edges, growing along ``(-a_y, a_x)`` for an axis direction
  ``(a_x, a_y)`` in image coordinates (x right, y down): for a part pointing down the
  image, ``v`` grows towards the image's left.
* boxes ``(N, 4)``: ``x, y, w, h`` of the person's visible pixels, in the same coordinates
  (a box's left edge is the leftmost pixel's centre minus 0.5); areas ``(N,)``: the
  person's visible pixel count, the segmentation area COCO's OKS divides by.

People hidden entirely (behind others or outside the image) are dropped from the sample.

Item ``i`` of :class:`SyntheticPeople` is drawn by numpy's generator seeded with
``[seed, i]``, so it is the same in any order, process or data-loader worker.
:func:`write_coco` exports items as PNG images and a ``person_keypoints.json`` in COCO's
keypoint layout, for COCO's loaders and evaluation.

References: the keypoints and visibility flags are COCO's (Lin et al., "Microsoft COCO:
Common Objects in Context", ECCV 2014, https://arxiv.org/abs/1405.0312); the per-pixel
part and (u, v) labels follow the IUV labels of DensePose (Guler, Neverova, Kokkinos,
"DensePose: Dense Human Pose Estimation In The Wild", CVPR 2018,
https://arxiv.org/abs/1802.00434).

Deviations: the bodies are capsule figures, not photographed people; the projection is
orthographic; the (u, v) charts are per-capsule coordinates, not the SMPL surface
charts of DensePose.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from convzoo.data.pose.skeleton import COCO
from convzoo.data.splits import LUMA_WEIGHTS
from convzoo.errors import ConvzooError

__all__ = ["BODY_PARTS", "MAX_PEOPLE", "MIN_SIDE", "PoseSample", "SyntheticPeople", "write_coco"]

BODY_PARTS: tuple[str, ...] = (
    "torso", "head", "left_upper_arm", "right_upper_arm", "left_lower_arm", "right_lower_arm",
    "left_upper_leg", "right_upper_leg", "left_lower_leg", "right_lower_leg",
)
_PART = {name: index + 1 for index, name in enumerate(BODY_PARTS)}
MIN_SIDE = 32  # smallest image side
MAX_PEOPLE = 20  # most people per image

# Body proportions in statures (module docstring), and part thicknesses before the build factor.
_LENGTHS = {
    "torso": 0.29, "neck": 0.035, "head": 0.06, "shoulder": 0.105, "hip": 0.065,
    "upper_arm": 0.165, "lower_arm": 0.145, "hand": 0.05, "upper_leg": 0.245, "lower_leg": 0.245, "foot": 0.03,
}
_RADII = {  # (proximal, distal)
    "upper_arm": (0.032, 0.026), "lower_arm": (0.025, 0.019), "upper_leg": (0.05, 0.037),
    "lower_leg": (0.036, 0.026),
}
# Face points on the head's sphere: (azimuth from the facing direction towards the person's left, elevation), radians.
_FACE_ANGLES = {
    "nose": (0.0, -0.12), "left_eye": (0.35, 0.12), "right_eye": (-0.35, 0.12),
    "left_ear": (1.45, 0.02), "right_ear": (-1.45, 0.02),
}
_DEPTH_BIAS = {"torso": 0.0, "head": 0.03, "upper_arm": 0.02, "lower_arm": 0.025, "upper_leg": 0.01, "lower_leg": 0.012}
_PERSON_DEPTH = 2.0  # depth between people, in statures: more than a body's own depth range
_SKIN = np.array([(0.96, 0.8, 0.69), (0.87, 0.68, 0.54), (0.76, 0.57, 0.42), (0.6, 0.42, 0.3), (0.45, 0.3, 0.2),
                  (0.32, 0.21, 0.14)], dtype=np.float32)
_HAIR = np.array([(0.08, 0.06, 0.05), (0.25, 0.16, 0.09), (0.5, 0.36, 0.2), (0.8, 0.68, 0.42), (0.55, 0.55, 0.55)],
                 dtype=np.float32)
# Bundled photographs that show real people, who would be unlabelled people in a pose image: not backgrounds.
_PHOTOGRAPHS_OF_PEOPLE = frozenset({"astronaut", "camera"})
_PATTERNS = ("plain", "across", "along", "noise")
_LUMA = np.asarray(LUMA_WEIGHTS, dtype=np.float32)


def _own_parts(joint: str) -> tuple[int, ...]:
    """The parts of its person on which the keypoint ``joint`` shows when nothing hides it."""
    if joint in _FACE_ANGLES:
        return (_PART["head"],)
    side, kind = joint.split("_")
    parts = {
        "shoulder": ("torso", f"{side}_upper_arm"), "elbow": (f"{side}_upper_arm", f"{side}_lower_arm"),
        "wrist": (f"{side}_lower_arm",), "hip": ("torso", f"{side}_upper_leg"),
        "knee": (f"{side}_upper_leg", f"{side}_lower_leg"), "ankle": (f"{side}_lower_leg",),
    }[kind]
    return tuple(_PART[part] for part in parts)


# _OWNS[j, p]: part label p shows keypoint j.
_OWNS = np.zeros((COCO.num_joints, len(BODY_PARTS) + 1), dtype=bool)
for _joint, _name in enumerate(COCO.joints):
    _OWNS[_joint, list(_own_parts(_name))] = True


@dataclass
class PoseSample:
    """One synthetic image and its labels (module docstring for the conventions).

    Attributes:
        image: float32 ``(3, H, W)`` in [0, 1].
        keypoints: float32 ``(N, 17, 3)``: x, y in pixels and COCO's visibility (0, 1, 2).
        boxes: float32 ``(N, 4)``: x, y, w, h of each person's visible pixels.
        areas: float32 ``(N,)``: each person's visible pixel count.
        parts: int64 ``(H, W)``: 0 background, ``k + 1`` for ``BODY_PARTS[k]``.
        uv: float32 ``(2, H, W)`` in [0, 1]: (u, v) on the part, 0 on the background.
        instances: int64 ``(H, W)``: 0 background, ``i + 1`` for person ``i``.
    """

    image: torch.Tensor
    keypoints: torch.Tensor
    boxes: torch.Tensor
    areas: torch.Tensor
    parts: torch.Tensor
    uv: torch.Tensor
    instances: torch.Tensor

    @property
    def num_people(self) -> int:
        return self.keypoints.shape[0]


@dataclass
class _Garment:
    """A cloth (or skin, hair, shoe) texture: two colours mixed by a pattern with a period in pixels."""

    colours: np.ndarray  # (2, 3)
    pattern: str = "plain"
    period: float = 4.0

    def paint(self, along: np.ndarray, across: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Colours ``(n, 3)`` at pixels with these part coordinates (pixels) and noise values."""
        if self.pattern == "plain":
            return np.broadcast_to(self.colours[0], (along.size, 3))
        if self.pattern == "noise":
            mix = noise
        else:
            position = along if self.pattern == "across" else across
            mix = (np.sin(position * (2 * math.pi / self.period)) > 0).astype(np.float32)
        return self.colours[0] + (self.colours[1] - self.colours[0]) * mix[:, None]


@dataclass
class _Piece:
    """One part of one person, ready to draw: a tapered capsule in pixels."""

    part: int
    person: int
    start: np.ndarray  # proximal end (x, y)
    end: np.ndarray  # distal end
    radii: tuple[float, float]
    depth: float
    bands: list[tuple[float, _Garment]]  # from this distance along the axis (pixels) on, this texture
    dots: list[tuple[float, float, float]] = field(default_factory=list)  # eyes: (x, y, radius), painted dark


def _plain(colour: np.ndarray) -> _Garment:
    return _Garment(np.stack([colour, colour]).astype(np.float32))


# ----------------------------------------------------------------------------------------------------------------
# The body: angles, joints in 3-D, projection.


def _sample_angles(rng: np.random.Generator) -> np.ndarray:
    """``(4, 3)`` radians: per limb (left arm, right arm, left leg, right leg) flexion, abduction, bend."""
    uniform = rng.uniform

    def standing_arm() -> list[float]:
        return [uniform(-10, 20), uniform(3, 25), uniform(0, 35)]

    def standing_leg() -> list[float]:
        return [uniform(-5, 10), uniform(0, 10), uniform(0, 12)]

    def raised_arm() -> list[float]:
        if rng.random() < 0.5:
            return [uniform(-10, 60), uniform(60, 175), uniform(0, 100)]  # sideways
        return [uniform(60, 175), uniform(0, 30), uniform(0, 100)]  # forwards

    family = rng.choice(4, p=[0.25, 0.35, 0.2, 0.2])
    if family == 0:  # standing
        limbs = [standing_arm(), standing_arm(), standing_leg(), standing_leg()]
    elif family == 1:  # walking: legs swing against each other, arms against the legs
        swing = uniform(-1, 1)
        limbs = [[-30 * swing, uniform(3, 15), uniform(10, 50)], [30 * swing, uniform(3, 15), uniform(10, 50)],
                 [28 * swing, uniform(0, 8), uniform(0, 40 if swing < 0 else 20)],
                 [-28 * swing, uniform(0, 8), uniform(0, 40 if swing > 0 else 20)]]
    elif family == 2:  # raising one or both arms
        limbs = [raised_arm() if rng.random() < 0.75 else standing_arm() for _ in range(2)]
        limbs += [standing_leg(), standing_leg()]
    else:  # free, within human ranges
        limbs = [[uniform(-40, 170), uniform(0, 150), uniform(0, 140)] for _ in range(2)]
        limbs += [[uniform(-20, 100), uniform(0, 45), uniform(0, 130)] for _ in range(2)]
    angles = np.asarray(limbs) + rng.normal(0.0, 4.0, (4, 3))
    angles[:, 1] = np.maximum(angles[:, 1], -10.0)  # little adduction across the body
    angles[:, 2] = np.clip(angles[:, 2], 0.0, 150.0)  # elbows and knees bend one way
    return np.radians(angles)


def _limb_direction(flexion: float, abduction: float, side: np.ndarray, forward: np.ndarray,
                    up: np.ndarray) -> np.ndarray:
    """Unit direction of a limb hanging down, raised by ``flexion`` forwards and ``abduction`` sideways."""
    return (-math.cos(abduction) * math.cos(flexion) * up + math.cos(abduction) * math.sin(flexion) * forward
            + math.sin(abduction) * side)


def _bend(parent: np.ndarray, angle: float, towards: np.ndarray) -> np.ndarray:
    """``parent`` turned by ``angle`` towards the direction ``towards`` (an elbow or knee bend)."""
    normal = towards - (towards @ parent) * parent
    if np.linalg.norm(normal) < 1e-6:  # ``towards`` is along the limb: bend in any plane through it
        fallback = np.array([0.0, 1.0, 0.0]) if abs(parent[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        normal = fallback - (fallback @ parent) * parent
    return math.cos(angle) * parent + math.sin(angle) * normal / np.linalg.norm(normal)


@dataclass
class _Body:
    """A posed body in statures (origin at the pelvis, y up, z towards the camera)."""

    joints: dict[str, np.ndarray]  # 3-D points: the 12 COCO body joints, ends of hands and feet, head centre
    face: dict[str, np.ndarray]  # unit directions from the head's centre to the 5 face points
    trunk: np.ndarray  # the spine's unit direction
    radii: dict[str, tuple[float, float]]  # capsule radii per part kind (and "torso", "head")
    torso_ends: tuple[np.ndarray, np.ndarray]


def _sample_body(rng: np.random.Generator) -> _Body:
    """A person's proportions, yaw, lean and limb angles (module docstring), as 3-D joints."""
    size = {name: value * rng.uniform(0.9, 1.1) for name, value in _LENGTHS.items()}
    build = rng.uniform(0.8, 1.25)
    yaw = rng.uniform(-math.pi, math.pi)
    head_yaw = yaw + math.radians(rng.uniform(-45, 45))
    head_pitch = math.radians(rng.uniform(-15, 15))
    up = np.array([0.0, 1.0, 0.0])
    forward = np.array([math.sin(yaw), 0.0, math.cos(yaw)])
    left = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])  # the person's left: the image's right when facing us
    lean = np.tan(np.radians(rng.normal(0.0, [5.0, 4.0])))
    trunk = up + lean[0] * forward + lean[1] * left
    trunk /= np.linalg.norm(trunk)
    angles = _sample_angles(rng)

    neck = trunk * size["torso"]
    joints = {"head": neck + trunk * (size["neck"] + size["head"])}
    for index, (side, sign) in enumerate((("left", 1.0), ("right", -1.0))):
        outwards = sign * left
        flexion, abduction, bend = angles[index]
        shoulder = neck + outwards * size["shoulder"]
        upper = _limb_direction(flexion, abduction, outwards, forward, up)
        elbow = shoulder + upper * size["upper_arm"]
        lower = _bend(upper, bend, forward + rng.uniform(-0.5, 0.5) * outwards + rng.uniform(0.0, 0.5) * up)
        wrist = elbow + lower * size["lower_arm"]
        flexion, abduction, bend = angles[2 + index]
        hip = outwards * size["hip"]
        thigh = _limb_direction(flexion, abduction, outwards, forward, up)
        knee = hip + thigh * size["upper_leg"]
        shin = _bend(thigh, bend, -forward)
        ankle = knee + shin * size["lower_leg"]
        joints |= {
            f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist,
            f"{side}_hand": wrist + lower * size["hand"], f"{side}_hip": hip, f"{side}_knee": knee,
            f"{side}_ankle": ankle, f"{side}_foot": ankle + shin * size["foot"],
        }
    face = {}
    for name, (azimuth, elevation) in _FACE_ANGLES.items():
        elevation += head_pitch
        face[name] = np.array([math.cos(elevation) * math.sin(head_yaw + azimuth), math.sin(elevation),
                               math.cos(elevation) * math.cos(head_yaw + azimuth)])
    facing = abs(math.cos(yaw))  # the torso is widest seen from the front
    top = max(size["shoulder"] * facing, 0.06 * build)
    bottom = max(0.095 * build * facing, 0.07 * build)
    radii = {kind: (first * build, second * build) for kind, (first, second) in _RADII.items()}
    radii |= {"torso": (bottom, top), "head": (0.9 * size["head"], 0.9 * size["head"])}
    torso_ends = (trunk * (bottom - 0.04), neck - trunk * (top - 0.025))
    return _Body(joints, face, trunk, radii, torso_ends)


# ----------------------------------------------------------------------------------------------------------------
# A person's clothes, and the pieces to draw.


@dataclass
class _Look:
    skin: _Garment
    hair: _Garment
    shirt: _Garment
    trousers: _Garment
    shoes: _Garment
    long_sleeves: bool
    shorts: bool


def _sample_garment(rng: np.random.Generator, stature: float) -> _Garment:
    colours = rng.random((2, 3)).astype(np.float32)
    pattern = _PATTERNS[rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])]
    return _Garment(colours, pattern, max(2.5, stature * rng.uniform(0.02, 0.06)))


def _sample_look(rng: np.random.Generator, stature: float) -> _Look:
    skin = _SKIN[rng.integers(len(_SKIN))] * rng.uniform(0.92, 1.08)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.85, 1.15)
    return _Look(
        skin=_plain(np.clip(skin, 0, 1)), hair=_plain(np.clip(hair, 0, 1)),
        shirt=_sample_garment(rng, stature), trousers=_sample_garment(rng, stature),
        shoes=_plain(rng.random(3) * 0.4), long_sleeves=bool(rng.random() < 0.6), shorts=bool(rng.random() < 0.3),
    )


@dataclass
class _Placement:
    """Where a body goes: stature in pixels, in-plane rotation, pelvis position, depth of the person."""

    stature: float
    rotation: float
    centre: np.ndarray
    depth: float

    def project(self, point: np.ndarray) -> np.ndarray:
        """Image position ``(x, y)`` of a body point (orthographic: z dropped, y flipped)."""
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        x, y = point[0] * self.stature, -point[1] * self.stature
        return self.centre + np.array([cos * x - sin * y, sin * x + cos * y])


def _pieces(body: _Body, look: _Look, place: _Placement, person: int) -> tuple[list[_Piece], np.ndarray, np.ndarray]:
    """The person's parts to draw, its keypoints ``(17, 2)`` in pixels, and which face points face us ``(17,)``."""
    joints, stature = body.joints, place.stature

    def radius(kind: str) -> tuple[float, float]:
        first, second = body.radii[kind]
        return max(first * stature, 1.0), max(second * stature, 1.0)  # at least a pixel: joints stay on their parts

    def piece(name: str, kind: str, start: np.ndarray, end: np.ndarray, bands: list[tuple[float, _Garment]],
              dots: list[tuple[float, float, float]] | None = None) -> _Piece:
        depth = place.depth + (start[2] + end[2]) / 2 + _DEPTH_BIAS[kind]
        return _Piece(_PART[name], person, place.project(start), place.project(end), radius(kind), depth, bands,
                      dots or [])

    def span(first: str, second: str) -> float:
        """Distance in pixels between two joints in the image: where a sleeve, hand or shoe starts."""
        return float(np.linalg.norm(place.project(joints[second]) - place.project(joints[first])))

    head_radius = radius("head")[0]
    centre = place.project(joints["head"])
    face_radius = max(0.0, min(0.8 * body.radii["head"][0] / 0.9 * stature, head_radius - 0.8))
    face_points = {name: place.project(direction * face_radius / stature) - place.centre + centre
                   for name, direction in body.face.items()}
    facing = {name: direction[2] > 0 for name, direction in body.face.items()}
    eye_radius = 0.12 * head_radius
    dots = [(*face_points[eye], eye_radius) for eye in ("left_eye", "right_eye")
            if body.face[eye][2] > 0.15 and head_radius >= 4]
    chin = joints["head"] - body.trunk * 0.25 * body.radii["head"][0]
    crown = joints["head"] + body.trunk * 0.25 * body.radii["head"][0]
    head_length = float(np.linalg.norm(place.project(crown) - place.project(chin))) + 2 * head_radius
    hairline = 0.38 + 0.24 * float(body.face["nose"][2])  # from the front the face shows, from behind the hair
    pieces = [
        piece("torso", "torso", *body.torso_ends, [(-math.inf, look.shirt)]),
        piece("head", "head", chin, crown, [(-math.inf, look.skin), (hairline * head_length - head_radius, look.hair)],
              dots),
    ]
    for side in ("left", "right"):
        upper_arm, lower_arm = span(f"{side}_shoulder", f"{side}_elbow"), span(f"{side}_elbow", f"{side}_wrist")
        thigh, shin = span(f"{side}_hip", f"{side}_knee"), span(f"{side}_knee", f"{side}_ankle")
        sleeve = math.inf if look.long_sleeves else 0.55 * upper_arm
        pieces += [
            piece(f"{side}_upper_arm", "upper_arm", joints[f"{side}_shoulder"], joints[f"{side}_elbow"],
                  [(-math.inf, look.shirt), (sleeve, look.skin)]),
            piece(f"{side}_lower_arm", "lower_arm", joints[f"{side}_elbow"], joints[f"{side}_hand"],
                  [(-math.inf, look.shirt if look.long_sleeves else look.skin), (lower_arm, look.skin)]),
            piece(f"{side}_upper_leg", "upper_leg", joints[f"{side}_hip"], joints[f"{side}_knee"],
                  [(-math.inf, look.trousers), (0.6 * thigh if look.shorts else math.inf, look.skin)]),
            piece(f"{side}_lower_leg", "lower_leg", joints[f"{side}_knee"], joints[f"{side}_foot"],
                  [(-math.inf, look.skin if look.shorts else look.trousers), (shin, look.shoes)]),
        ]
    keypoints = np.stack([face_points[name] if name in face_points else place.project(joints[name])
                          for name in COCO.joints])
    faces_us = np.array([facing.get(name, True) for name in COCO.joints])
    return pieces, keypoints, faces_us


# ----------------------------------------------------------------------------------------------------------------
# Drawing.


@dataclass
class _Canvas:
    """The image and its label maps, drawn into part by part (numpy, ``(H, W, ...)``)."""

    image: np.ndarray  # (H, W, 3) float32
    noise: np.ndarray  # (H, W) float32 in [0, 1): the texture of noisy cloth
    parts: np.ndarray  # (H, W) int64
    uv: np.ndarray  # (2, H, W) float32
    instances: np.ndarray  # (H, W) int64

    def draw(self, piece: _Piece) -> None:
        """Paint ``piece`` over what is drawn: its colours, its part, person and (u, v)."""
        height, width = self.parts.shape
        (x0, y0), (x1, y1) = piece.start, piece.end
        first, second = piece.radii
        reach = max(first, second)
        left, right = max(math.floor(min(x0, x1) - reach), 0), min(math.ceil(max(x0, x1) + reach) + 1, width)
        top, bottom = max(math.floor(min(y0, y1) - reach), 0), min(math.ceil(max(y0, y1) + reach) + 1, height)
        if left >= right or top >= bottom:
            return
        dx = np.arange(left, right, dtype=np.float32) - np.float32(x0)  # (w,)
        dy = np.arange(top, bottom, dtype=np.float32)[:, None] - np.float32(y0)  # (h, 1)
        length = math.hypot(x1 - x0, y1 - y0)
        ax, ay = ((x1 - x0) / length, (y1 - y0) / length) if length > 1e-6 else (0.0, 1.0)
        along = dx * np.float32(ax) + dy * np.float32(ay)  # (h, w)
        across = dy * np.float32(ax) - dx * np.float32(ay)  # along (-ay, ax)
        fraction = np.clip(along / max(length, 1e-6), 0.0, 1.0)
        radius = first + (second - first) * fraction
        distance = np.sqrt((along - fraction * length) ** 2 + across**2)  # to the nearest axis point
        inside = distance <= radius
        if not inside.any():
            return
        along, across, radius, distance = along[inside], across[inside], radius[inside], distance[inside]
        rows, columns = np.nonzero(inside)
        rows += top
        columns += left

        colours = np.empty((along.size, 3), dtype=np.float32)
        noise = self.noise[rows, columns]
        for start, garment in piece.bands:
            chosen = along >= start
            colours[chosen] = garment.paint(along[chosen], across[chosen], noise[chosen])
        for x, y, size in piece.dots:
            colours[(columns - x) ** 2 + (rows - y) ** 2 <= size**2] = 0.08
        shade = 0.55 + 0.45 * np.sqrt(np.clip(1.0 - (distance / radius) ** 2, 0.0, 1.0))  # a lit cylinder
        self.image[rows, columns] = colours * shade[:, None]
        self.parts[rows, columns] = piece.part
        self.instances[rows, columns] = piece.person + 1
        self.uv[0, rows, columns] = np.clip((along + first) / (length + first + second), 0.0, 1.0)
        self.uv[1, rows, columns] = np.clip(0.5 + 0.5 * across / radius, 0.0, 1.0)


@lru_cache(maxsize=1)
def _photographs() -> tuple[np.ndarray, ...]:
    """Every bundled photograph as ``uint8`` ``(H, W, 3)``."""
    from convzoo.data.natural_images import load_denoise_images

    photographs = load_denoise_images("natural", in_chans=3)
    return tuple(photo.pixels for photo in photographs.train + photographs.val + photographs.test
                 if photo.name not in _PHOTOGRAPHS_OF_PEOPLE)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of a random photograph, resized to ``(height, width, 3)`` float32 and colour-jittered."""
    photographs = _photographs()
    photo = photographs[rng.integers(len(photographs))]
    fit = min(photo.shape[0] / height, photo.shape[1] / width)  # the largest crop of the image's shape
    zoom = rng.uniform(0.35, 1.0)
    crop_height, crop_width = max(1, round(height * fit * zoom)), max(1, round(width * fit * zoom))
    top = rng.integers(photo.shape[0] - crop_height + 1)
    left = rng.integers(photo.shape[1] - crop_width + 1)
    crop = Image.fromarray(photo[top:top + crop_height, left:left + crop_width])
    pixels = np.asarray(crop.resize((width, height), Image.BILINEAR), dtype=np.float32) / 255.0
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    gray = pixels @ _LUMA  # (H, W)
    pixels = gray[..., None] + (pixels - gray[..., None]) * rng.uniform(0.5, 1.3)  # saturation
    mean = float(gray.mean())
    pixels = (pixels - mean) * rng.uniform(0.6, 1.3) + mean * rng.uniform(0.6, 1.3)  # contrast, brightness
    return np.clip(pixels, 0.0, 1.0).astype(np.float32)


def _placements(rng: np.random.Generator, count: int, height: int, width: int) -> list[_Placement]:
    """Statures, rotations and positions of ``count`` people: one horizontal slot each, larger people in front."""
    tallest = max(0.45, 0.85 - 0.1 * (count - 1))
    statures = height * rng.uniform(0.3, tallest, count)
    slots = rng.permutation(count)
    xs = width * (slots + rng.uniform(0.15, 0.85, count)) / count
    ys = height * rng.uniform(0.3, 0.7, count)
    rotations = np.radians(np.clip(rng.normal(0.0, 8.0, count), -30.0, 30.0))
    depth_rank = np.argsort(np.argsort(statures))
    return [_Placement(float(statures[i]), float(rotations[i]), np.array([xs[i], ys[i]]), _PERSON_DEPTH * depth_rank[i])
            for i in range(count)]


def _visibility(keypoints: np.ndarray, faces_us: np.ndarray, canvas: _Canvas) -> np.ndarray:
    """COCO's flags ``(N, 17)`` from the drawn maps at each keypoint's nearest pixel (module docstring)."""
    height, width = canvas.parts.shape
    columns = np.floor(keypoints[..., 0] + 0.5).astype(np.int64)
    rows = np.floor(keypoints[..., 1] + 0.5).astype(np.int64)
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    columns, rows = np.where(inside, columns, 0), np.where(inside, rows, 0)
    person = np.arange(len(keypoints))[:, None] + 1
    shown = (canvas.instances[rows, columns] == person) & _OWNS[np.arange(COCO.num_joints), canvas.parts[rows, columns]]
    return np.where(inside, np.where(shown & faces_us, 2, 1), 0)


def _draw_sample(rng: np.random.Generator, height: int, width: int, people: tuple[int, int]) -> PoseSample:
    count = int(rng.integers(people[0], people[1] + 1))
    canvas = _Canvas(
        image=_background(rng, height, width), noise=rng.random((height, width), dtype=np.float32),
        parts=np.zeros((height, width), dtype=np.int64), uv=np.zeros((2, height, width), dtype=np.float32),
        instances=np.zeros((height, width), dtype=np.int64),
    )
    pieces, keypoints, faces_us = [], np.zeros((count, COCO.num_joints, 2)), np.zeros((count, COCO.num_joints), bool)
    for person, place in enumerate(_placements(rng, count, height, width)):
        body = _sample_body(rng)
        look = _sample_look(rng, place.stature)
        person_pieces, keypoints[person], faces_us[person] = _pieces(body, look, place, person)
        pieces += person_pieces
    for piece in sorted(pieces, key=lambda piece: piece.depth):  # far to near
        canvas.draw(piece)
    visibility = _visibility(keypoints, faces_us, canvas)
    image = canvas.image + rng.standard_normal(canvas.image.shape, dtype=np.float32) * np.float32(rng.uniform(0, 0.02))

    areas = np.bincount(canvas.instances.ravel(), minlength=count + 1)[1:]
    kept = np.flatnonzero(areas > 0)  # people hidden entirely are dropped
    relabel = np.zeros(count + 1, dtype=np.int64)
    relabel[kept + 1] = np.arange(1, len(kept) + 1)
    instances = relabel[canvas.instances]
    labelled = np.concatenate([keypoints, visibility[..., None]], axis=-1)[kept]
    labelled[labelled[..., 2] == 0] = 0.0
    return PoseSample(
        image=torch.from_numpy(np.clip(image, 0.0, 1.0)).permute(2, 0, 1).contiguous(),
        keypoints=torch.from_numpy(labelled.astype(np.float32)),
        boxes=torch.from_numpy(_boxes(instances, len(kept))),
        areas=torch.from_numpy(areas[kept].astype(np.float32)),
        parts=torch.from_numpy(canvas.parts),
        uv=torch.from_numpy(canvas.uv),
        instances=torch.from_numpy(instances),
    )


def _boxes(instances: np.ndarray, count: int) -> np.ndarray:
    """``(count, 4)`` x, y, w, h around each person's pixels (pixel centres at integers)."""
    boxes = np.zeros((count, 4), dtype=np.float32)
    for person in range(count):
        mask = instances == person + 1
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        boxes[person] = (columns[0] - 0.5, rows[0] - 0.5, columns[-1] - columns[0] + 1, rows[-1] - rows[0] + 1)
    return boxes


# ----------------------------------------------------------------------------------------------------------------
# The dataset and its COCO export.


def _check_pair(value: object, name: str, low: int, high: int | None = None) -> tuple[int, int]:
    bound = f"between {low} and {high}" if high is not None else f"at least {low}"
    try:
        first, second = value  # type: ignore[misc]
        valid = all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in (first, second))
    except (TypeError, ValueError):
        valid = False
    if not valid or min(first, second) < low or (high is not None and max(first, second) > high):
        raise ConvzooError(f"SyntheticPeople: {name} must be two integers {bound}, got {value!r}")
    return int(first), int(second)


class SyntheticPeople(Dataset):
    """``count`` seeded images of synthetic people (module docstring); item ``i`` depends only on ``(seed, i)``.

    Args:
        count: number of images.
        image_size: ``(height, width)`` in pixels, each at least 32.
        people: ``(min, max)`` people per image, drawn uniformly (people hidden entirely are dropped).
        seed: a non-negative integer.

    Shape:
        each item: a :class:`PoseSample` with a ``(3, height, width)`` image.
    """

    def __init__(self, count: int, *, image_size: tuple[int, int] = (256, 256), people: tuple[int, int] = (1, 1),
                 seed: int = 0) -> None:
        if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or count < 0:
            raise ConvzooError(f"SyntheticPeople: count must be a non-negative integer, got {count!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ConvzooError(f"SyntheticPeople: seed must be a non-negative integer, got {seed!r}")
        self.image_size = _check_pair(image_size, "image_size", MIN_SIDE)
        self.people = _check_pair(people, "people (min, max)", 0, MAX_PEOPLE)
        if self.people[0] > self.people[1] or self.people[1] == 0:
            raise ConvzooError(
                f"SyntheticPeople: people must be (min, max) with min <= max and max >= 1, got {people!r}")
        self.count = int(count)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> PoseSample:
        if not -self.count <= index < self.count:
            raise IndexError(f"index {index} is out of range for {self.count} synthetic images")
        rng = np.random.default_rng([self.seed, int(index) % self.count])
        return _draw_sample(rng, *self.image_size, self.people)


def _run_lengths(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a boolean ``(H, W)`` mask: runs in column-major order, zeros first."""
    flat = mask.T.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]]))
    return {"size": list(mask.shape), "counts": ([0] if flat[0] else []) + counts.tolist()}


def _person_category() -> dict:
    return {
        "id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO.joints),
        "skeleton": [[first + 1, second + 1] for first, second in COCO.limbs],  # 1-based, as COCO's file
    }


def write_coco(dataset: SyntheticPeople, folder: str | os.PathLike, indices: list[int] | None = None) -> Path:
    """Write images ``folder/images/NNNNNN.png`` and ``folder/person_keypoints.json``; return the json's path.

    The json has COCO's keypoint layout: ``images`` (id = index + 1), ``annotations`` (flat
    keypoint lists ``[x1, y1, v1, ...]``, ``num_keypoints``, ``bbox`` x, y, w, h, ``area``,
    ``iscrowd`` 0, ``segmentation`` as uncompressed RLE of the person's visible pixels) and
    the person category with COCO's keypoint names and 1-based skeleton. Coordinates keep
    the generator's convention (pixel centres at integers). Images are rounded to ``uint8``.
    """
    indices = list(range(len(dataset))) if indices is None else [int(index) for index in indices]
    for index in indices:
        if not 0 <= index < len(dataset):
            raise ConvzooError(f"write_coco: index {index} is outside the dataset's {len(dataset)} images")
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in indices:
        sample = dataset[index]
        file_name = f"{index:06d}.png"
        pixels = (sample.image.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / file_name)
        height, width = pixels.shape[:2]
        images.append({"id": index + 1, "file_name": file_name, "height": height, "width": width})
        instances = sample.instances.numpy()
        for person, keypoints in enumerate(sample.keypoints.tolist()):
            annotations.append({
                "id": len(annotations) + 1, "image_id": index + 1, "category_id": 1,
                "keypoints": [number for x, y, v in keypoints for number in (x, y, int(v))],
                "num_keypoints": sum(point[2] > 0 for point in keypoints),
                "bbox": sample.boxes[person].tolist(), "area": float(sample.areas[person]), "iscrowd": 0,
                "segmentation": _run_lengths(instances == person + 1),
            })
    content = {
        "info": {"description": f"convzoo synthetic people, seed {dataset.seed}", "version": "1.0"},
        "licenses": [], "images": images, "annotations": annotations, "categories": [_person_category()],
    }
    path = folder / "person_keypoints.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(content))
    temporary.replace(path)
    return path
