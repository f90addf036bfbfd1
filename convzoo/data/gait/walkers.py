"""Generated walkers: the embedded gait dataset, walking bodies drawn as silhouettes in CASIA-B's layout.

Paper: GaitSet: Regarding Gait as a Set for Cross-View Gait Recognition (Chao, He, Zhang, Feng,
AAAI 2019) https://arxiv.org/abs/1811.06186 (CASIA-B's protocol, Sec. 4.1, on generated data)

Every subject is a parametric body (:class:`Walker`) drawn from its own seeded generator:
proportions (leg, thigh/shin, trunk, neck, arm and head lengths), widths (a build factor
times per-part spreads of shoulders, hips, trunk depth, belly, limbs), and a gait (cadence,
hip swing ~ stride length, knee flexion, arm swing and abduction, elbow bend, forward lean,
vertical bob). Spreads are of the order of human ones (a few per cent for lengths, 10-15 %
for widths, 10-30 % for the swing amplitudes), so no single number tells two walkers apart.
Absolute height is not a parameter: preprocessing scales every silhouette to 64 rows, as it
does CASIA-B's.

A frame is the body's 3D pose at gait phase ``phi``: hip flexion ``a sin(phi)``, knee flexion
peaking early in the swing, arms swinging against the legs, a bob at twice the step rate;
the joints are rotated about the vertical axis to the view (0 degrees: walking towards the
camera, 90: side-on, 180: walking away), projected orthographically and drawn as filled
shapes (head disc, neck and limb capsules, trunk polygon) on a 192x256 canvas at 128 pixels
per body height, then run through :func:`~convzoo.data.gait.preprocess.preprocess_silhouette`
(which also antialiases: the canvas is twice the frame's resolution). A capsule (a segment
swept by a ball) projects to a capsule and an elliptic trunk section to a segment of
half-width ``sqrt((a cos v)^2 + (c sin v)^2)``, so the outline changes with the view.

Conditions, as CASIA-B's: ``nm`` the body alone; ``bg`` the subject's bag, a 3D box hanging
at one hip from the other shoulder's strap or carried on the back (its projected outline, the
convex hull of its eight corners, changes with the view), with the arm on its side swinging
less; ``cl`` the subject's coat, a trunk widened at the shoulders and flared down to the
knees, with thicker sleeves. Each sequence starts at a random phase and jitters the cadence,
amplitudes, lean and view a little; each frame adds about a degree of noise to the joints.

Defaults (:data:`DEFAULT_SUBJECTS`, :data:`DEFAULT_FRAMES`), chosen for a CPU: 40 subjects
(24 train, 16 tested: :data:`~convzoo.data.gait.protocol.WALKERS_PROTOCOL`) x 110 sequences x
16 frames at 12.5 frames per second (every other frame of CASIA-B's 25, at least one gait
cycle of 0.96-1.26 s): 4,400 sequences, 70,400 frames, rendered in about 30 s in all on one
core (6-8 ms a sequence on a shared 2-core machine). Frames are rendered when a sequence is read and the last
:data:`CACHE_SEQUENCES` sequences kept (45 KB each), so memory stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from convzoo.data.gait.preprocess import preprocess_silhouette
from convzoo.data.gait.sequences import CONDITIONS, VIEWS, GaitSequence, SequenceCache
from convzoo.errors import ConvzooError

__all__ = ["CACHE_SEQUENCES", "DEFAULT_FRAMES", "DEFAULT_SUBJECTS", "FPS", "GeneratedWalkers", "Walker",
           "render_frame", "sample_walker"]

DEFAULT_SUBJECTS = 40
DEFAULT_FRAMES = 16
FPS = 12.5  # frames per second of a generated sequence
CACHE_SEQUENCES = 512  # rendered sequences kept (least recently read dropped first)
CANVAS = (192, 256)  # (H, W) pixels of the drawing, before preprocessing
SCALE = 128.0  # pixels per body height
FLOOR_ROW = 176.0  # canvas row of the floor
_CONDITION_CODE = {"nm": 0, "bg": 1, "cl": 2}


def _normal(rng: np.random.Generator, mean: float, spread: float, low: float, high: float) -> float:
    return float(np.clip(rng.normal(mean, spread), low, high))


@dataclass(frozen=True)
class Walker:
    """One subject's body, gait, bag and coat. Lengths are fractions of the body height, angles degrees."""

    leg: float  # hip joint to floor
    thigh: float  # share of the leg above the knee
    trunk: float  # hip joint to shoulder line
    neck: float
    head: float  # radius
    upper_arm: float
    forearm: float  # with the hand
    foot: float
    shoulders: float  # full width between the outer edges
    hips: float
    depth: float  # trunk, front to back, at the chest
    belly: float  # trunk depth at the waist, over ``depth``
    thigh_radius: float
    shin_radius: float
    arm_radius: float
    cadence: float  # steps per minute
    hip_swing: float  # amplitude of the hip flexion: the stride
    knee_flex: float  # peak knee flexion in the swing
    arm_swing: float
    arm_abduction: float
    elbow: float  # resting elbow flexion
    lean: float  # forward trunk lean
    bob: float  # vertical bob, fraction of height
    bag_kind: str  # "side" | "back"
    bag_side: int  # +1 or -1: the walker's side the side bag hangs on
    bag_size: tuple[float, float, float]  # (along the walk, lateral, vertical)
    coat_length: float  # where the coat's hem is, as a fraction of the way from the hip to the knees
    coat_flare: float  # the coat's hem half-width over the hip half-width


def sample_walker(rng: np.random.Generator) -> Walker:
    """A subject drawn from the population: realistic spreads around an average adult's proportions."""
    build = _normal(rng, 1.0, 0.13, 0.7, 1.4)  # one factor for every width, and a spread per part

    def width(mean: float, spread: float = 0.08) -> float:
        return mean * build * _normal(rng, 1.0, spread, 0.7, 1.3)

    bag_kind = "side" if rng.random() < 0.6 else "back"
    if bag_kind == "side":
        bag_size = (rng.uniform(0.16, 0.30), rng.uniform(0.05, 0.10), rng.uniform(0.14, 0.26))
    else:
        bag_size = (rng.uniform(0.09, 0.16), rng.uniform(0.20, 0.30), rng.uniform(0.22, 0.34))
    return Walker(
        leg=_normal(rng, 0.50, 0.015, 0.45, 0.55), thigh=_normal(rng, 0.50, 0.02, 0.44, 0.56),
        trunk=_normal(rng, 0.30, 0.012, 0.26, 0.34), neck=_normal(rng, 0.035, 0.006, 0.02, 0.05),
        head=_normal(rng, 0.062, 0.004, 0.05, 0.075), upper_arm=_normal(rng, 0.175, 0.008, 0.15, 0.20),
        forearm=_normal(rng, 0.21, 0.01, 0.18, 0.24), foot=_normal(rng, 0.13, 0.008, 0.11, 0.15),
        shoulders=width(0.25, 0.06), hips=width(0.19, 0.07), depth=width(0.125, 0.10),
        belly=_normal(rng, 1.0, 0.12, 0.8, 1.45), thigh_radius=width(0.05), shin_radius=width(0.035),
        arm_radius=width(0.03), cadence=rng.uniform(95.0, 125.0), hip_swing=_normal(rng, 22.0, 3.5, 14.0, 32.0),
        knee_flex=_normal(rng, 55.0, 7.0, 38.0, 72.0), arm_swing=_normal(rng, 22.0, 7.0, 5.0, 42.0),
        arm_abduction=_normal(rng, 8.0, 3.0, 1.0, 18.0), elbow=_normal(rng, 15.0, 6.0, 2.0, 35.0),
        lean=_normal(rng, 4.0, 2.5, -2.0, 11.0), bob=_normal(rng, 0.015, 0.004, 0.005, 0.025),
        bag_kind=bag_kind, bag_side=1 if rng.random() < 0.5 else -1,
        bag_size=tuple(float(s) for s in bag_size),  # type: ignore[arg-type]
        coat_length=rng.uniform(0.55, 1.0), coat_flare=rng.uniform(1.2, 1.7),
    )


# -- the pose -------------------------------------------------------------------------------------

def _limb(start: np.ndarray, angle: float, length: float, abduction: float = 0.0, side: float = 0.0) -> np.ndarray:
    """The end of a segment of ``length`` from ``start`` at ``angle`` (radians from straight down, positive
    forward) tilted ``abduction`` radians outwards to lateral side ``side`` (+1/-1). Points are (x, y, z):
    x along the walk, y up, z lateral."""
    direction = np.array([math.sin(angle) * math.cos(abduction), -math.cos(angle) * math.cos(abduction),
                          side * math.sin(abduction)])
    return start + length * direction


def _pose(w: Walker, phase: float, lean: float, noise: np.ndarray, arm_swing: tuple[float, float]) -> dict:
    """The 3D joints at gait ``phase`` (radians; 0: the left thigh vertical, moving forward)."""
    rad = math.radians
    pelvis = np.array([0.0, w.leg - w.bob * (1 - math.cos(2 * phase)), 0.0])
    joints: dict[str, np.ndarray] = {"pelvis": pelvis}
    for k, (side, offset) in enumerate(((1.0, 0.0), (-1.0, math.pi))):  # left leg, right leg half a cycle later
        phi = phase + offset
        hip_angle = rad(w.hip_swing * math.sin(phi) + noise[k])
        knee = rad(5.0 + w.knee_flex * max(0.0, math.cos(phi + math.pi / 4)) ** 2 + noise[2 + k])
        hip = pelvis + np.array([0.0, 0.0, side * (w.hips / 2 - w.thigh_radius)])
        joints[f"hip{k}"] = hip
        joints[f"knee{k}"] = _limb(hip, hip_angle, w.leg * w.thigh)
        joints[f"ankle{k}"] = _limb(joints[f"knee{k}"], hip_angle - knee, w.leg * (1 - w.thigh) - w.shin_radius)
        shin = hip_angle - knee
        joints[f"toe{k}"] = joints[f"ankle{k}"] + w.foot * np.array([math.cos(shin), math.sin(shin) * 0.5, 0.0])
        # the arm on this side swings with the other leg
        swing = rad(arm_swing[k] * math.sin(phi + math.pi) + noise[4 + k])
        bend = rad(w.elbow + 0.6 * arm_swing[k] * max(0.0, math.sin(phi + math.pi)))
        up = np.array([math.sin(rad(lean)), math.cos(rad(lean)), 0.0])
        shoulder = pelvis + w.trunk * up + np.array([0.0, 0.0, side * (w.shoulders / 2 - w.arm_radius * 1.3)])
        joints[f"shoulder{k}"] = shoulder
        joints[f"elbow{k}"] = _limb(shoulder, swing, w.upper_arm, rad(w.arm_abduction), side)
        joints[f"hand{k}"] = _limb(joints[f"elbow{k}"], swing + bend, w.forearm, rad(w.arm_abduction), side)
    up = np.array([math.sin(rad(lean)), math.cos(rad(lean)), 0.0])
    joints["chest"] = pelvis + w.trunk * up
    joints["waist"] = pelvis + 0.45 * w.trunk * up
    joints["neck"] = joints["chest"] + w.neck * up
    joints["head"] = joints["neck"] + w.head * 0.9 * up + np.array([0.01, 0.0, 0.0])
    return joints


# -- drawing ---------------------------------------------------------------------------------------

class _Canvas:
    """Orthographic projection at view ``view`` degrees and filled shapes on a PIL canvas."""

    def __init__(self, view: float) -> None:
        theta = math.radians(view)
        self.image = Image.new("L", (CANVAS[1], CANVAS[0]), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.sin, self.cos = math.sin(theta), math.cos(theta)

    def point(self, p: np.ndarray) -> tuple[float, float]:
        """A 3D point's pixel (column, row): the image's horizontal axis is (-sin v, 0, cos v)."""
        u = -p[0] * self.sin + p[2] * self.cos
        return CANVAS[1] / 2 + SCALE * u, FLOOR_ROW - SCALE * p[1]

    def extent(self, lateral: float, along: float) -> float:
        """Half-width in pixels of an elliptic section with lateral and along-the-walk half-axes."""
        return SCALE * math.hypot(lateral * self.cos, along * self.sin)

    def disc(self, centre: np.ndarray, radius: float) -> None:
        (x, y), r = self.point(centre), SCALE * radius
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def capsule(self, a: np.ndarray, b: np.ndarray, radius: float) -> None:
        (xa, ya), (xb, yb), r = self.point(a), self.point(b), SCALE * radius
        length = math.hypot(xb - xa, yb - ya)
        if length > 1e-6:
            nx, ny = -(yb - ya) / length * r, (xb - xa) / length * r
            self.draw.polygon([(xa + nx, ya + ny), (xb + nx, yb + ny), (xb - nx, yb - ny), (xa - nx, ya - ny)],
                              fill=255)
        for x, y in ((xa, ya), (xb, yb)):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=255)

    def section_polygon(self, levels: list[tuple[np.ndarray, float, float]]) -> None:
        """A solid through elliptic horizontal sections ``(centre, lateral half, along half)``, top to bottom."""
        left, right = [], []
        for centre, lateral, along in levels:
            (x, y), e = self.point(centre), self.extent(lateral, along)
            left.append((x - e, y))
            right.append((x + e, y))
        self.draw.polygon(left + right[::-1], fill=255)

    def hull(self, points: list[np.ndarray]) -> None:
        self.draw.polygon(_convex_hull([self.point(p) for p in points]), fill=255)


def _convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Andrew's monotone chain: the hull's corners in order."""
    points = sorted(set(points))

    def cross(o, a, b) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    upper: list = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _bag_corners(w: Walker, j: dict, phase: float) -> list[np.ndarray]:
    """The bag box's eight corners, swinging a little with the step."""
    along, lateral, vertical = w.bag_size
    if w.bag_kind == "side":  # hanging at the hip, its top at the waist
        centre = j["pelvis"] + np.array([0.0, 0.02 - vertical / 2, w.bag_side * (w.hips / 2 + lateral / 2 + 0.02)])
    else:  # on the back, its top below the shoulders
        back = j["chest"] * 0.5 + j["waist"] * 0.5
        centre = back + np.array([-(w.depth / 2 + along / 2), 0.02, 0.0])
    swing = math.radians(6.0) * math.sin(phase)  # about the lateral axis
    rotation = np.array([[math.cos(swing), -math.sin(swing), 0], [math.sin(swing), math.cos(swing), 0], [0, 0, 1]])
    corners = []
    for sx in (-0.5, 0.5):
        for sy in (-0.5, 0.5):
            for sz in (-0.5, 0.5):
                corners.append(centre + rotation @ np.array([sx * along, sy * vertical, sz * lateral]))
    return corners


def render_frame(w: Walker, condition: str, view: float, phase: float, lean: float,
                 noise: np.ndarray, arm_swing: tuple[float, float]) -> np.ndarray:
    """The raw silhouette (uint8, ``CANVAS``) of walker ``w`` at ``phase`` from ``view`` degrees."""
    j = _pose(w, phase, lean, noise, arm_swing)
    canvas = _Canvas(view)
    coat = condition == "cl"
    sleeve = w.arm_radius * (1.3 if coat else 1.0)
    for k in (0, 1):
        canvas.capsule(j[f"hip{k}"], j[f"knee{k}"], w.thigh_radius)
        canvas.capsule(j[f"knee{k}"], j[f"ankle{k}"], w.shin_radius)
        canvas.capsule(j[f"ankle{k}"], j[f"toe{k}"], w.shin_radius * 0.8)
        canvas.capsule(j[f"shoulder{k}"], j[f"elbow{k}"], sleeve)
        canvas.capsule(j[f"elbow{k}"], j[f"hand{k}"], sleeve * 0.85)
    canvas.capsule(j["shoulder0"], j["shoulder1"], w.arm_radius * 1.3)
    canvas.capsule(j["neck"], j["chest"], 0.045 * w.shoulders / 0.25)
    canvas.disc(j["head"], w.head)
    half_depth = w.depth / 2
    canvas.section_polygon([
        (j["chest"] + np.array([0.0, -0.02, 0.0]), w.shoulders / 2 - w.arm_radius, half_depth),
        (j["waist"], 0.42 * (w.shoulders + w.hips) / 2, half_depth * w.belly),
        (j["pelvis"], w.hips / 2, half_depth * 0.95),
    ])
    if coat:
        knees = (j["knee0"] + j["knee1"]) / 2
        hem = j["pelvis"] + w.coat_length * (knees - j["pelvis"])
        hem[0] = j["pelvis"][0]
        canvas.section_polygon([
            (j["chest"], w.shoulders / 2 + 0.01, half_depth + 0.02),
            (j["waist"], 0.45 * (w.shoulders + w.hips) / 2 + 0.015, half_depth * w.belly + 0.025),
            (hem, w.hips / 2 * w.coat_flare, (half_depth + 0.03) * w.coat_flare),
        ])
    if condition == "bg":
        canvas.hull(_bag_corners(w, j, phase))
        if w.bag_kind == "side":  # the strap from the other shoulder
            top = j["pelvis"] + np.array([0.0, 0.02, w.bag_side * (w.hips / 2 + 0.02)])
            canvas.capsule(j["shoulder1" if w.bag_side > 0 else "shoulder0"], top, 0.012)
    return np.asarray(canvas.image)


# -- the source ------------------------------------------------------------------------------------

class GeneratedWalkers:
    """The embedded gait source: ``subjects`` generated walkers x CASIA-B's 110 sequences, rendered lazily.

    Subject ``n`` (``"001"``, ...) and each of its sequences are drawn from generators seeded by
    ``(seed, n)`` and ``(seed, n, condition, index, view)``, so a sequence is the same whatever
    was read before it and however many subjects there are.

    Args:
        subjects: number of walkers.
        frames: frames per sequence (at :data:`FPS`).
        seed: the population's seed.
    """

    name = "walkers"

    def __init__(self, subjects: int = DEFAULT_SUBJECTS, frames: int = DEFAULT_FRAMES, seed: int = 0) -> None:
        if subjects < 1 or frames < 1:
            raise ConvzooError(f"GeneratedWalkers needs subjects >= 1 and frames >= 1, got {subjects} and {frames}")
        self.subjects, self.num_frames, self.seed = subjects, frames, seed
        self.walkers = [sample_walker(np.random.default_rng([seed, n])) for n in range(1, subjects + 1)]
        self.sequences = sorted(
            GaitSequence(f"{n:03d}", condition, index, view)
            for n in range(1, subjects + 1) for condition, count in CONDITIONS.items()
            for index in range(1, count + 1) for view in VIEWS
        )
        self._cache = SequenceCache(self._render_index, CACHE_SEQUENCES)  # a bound method: picklable

    def __len__(self) -> int:
        return len(self.sequences)

    def frames(self, i: int) -> np.ndarray:
        """The frames of ``sequences[i]``: uint8 ``(frames, 64, 44)``, rendered on first read (read-only)."""
        return self._cache(i)

    def _render_index(self, i: int) -> np.ndarray:
        return self.render(self.sequences[i])

    def render(self, sequence: GaitSequence) -> np.ndarray:
        """Render one sequence (no cache)."""
        n = int(sequence.subject)
        walker = self.walkers[n - 1]
        rng = np.random.default_rng([self.seed, n, _CONDITION_CODE[sequence.condition], sequence.index, sequence.view])
        start = rng.uniform(0, 2 * math.pi)
        cadence = walker.cadence * _normal(rng, 1.0, 0.03, 0.9, 1.1)
        step = 2 * math.pi * cadence / 120.0 / FPS  # phase per frame: a cycle is two steps
        view = sequence.view + rng.normal(0.0, 1.5)
        lean = walker.lean + rng.normal(0.0, 1.0)
        swing = walker.arm_swing * _normal(rng, 1.0, 0.06, 0.8, 1.2)
        arm_swing = [swing, swing]
        if sequence.condition == "bg" and walker.bag_kind == "side":  # the arm by the bag swings less
            arm_swing[0 if walker.bag_side > 0 else 1] *= 0.4
        out = []
        for t in range(self.num_frames):
            noise = rng.normal(0.0, 1.0, size=6)
            raw = render_frame(walker, sequence.condition, view, start + t * step, lean, noise, tuple(arm_swing))
            frame = preprocess_silhouette(raw)
            if frame is not None:  # a drawn walker always fills the frame; kept for safety
                out.append(frame)
        return np.stack(out)
