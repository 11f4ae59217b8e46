"""The synthetic pose world: seeded articulated figures drawn on cluttered backgrounds.

Each figure is a 2D kinematic tree (pelvis -> spine -> neck -> head; shoulders -> elbows -> wrists; hips -> knees ->
ankles) with joint-angle limits, limb proportions and a body yaw (facing the camera or away, turned sideways), placed
with a random scale, rotation and position. Limbs are shaded capsules, the head a disc with eyes on the side it faces.
Backgrounds are random crops, flips and colour shifts of a per-dataset bank of textures (smooth noise, stripes, shapes,
checks) with limb-like distractor capsules that belong to nobody; rectangular occluders are drawn over figures.

Visibility follows COCO: 2 = visible, 1 = labelled but hidden (under an occluder, under
another person, or a face point on the far side of the head), 0 = outside the image.

Left/right cue: the person's left limbs are drawn in a warm colour family (:data:`LEFT_COLOR`), the right limbs in
a cool one (:data:`RIGHT_COLOR`), so "left" is learnable even for a figure seen from the back. Consequence
(DESIGN.md): **do not flip-augment synthetic images with the left/right label swap** -- a mirror keeps the warm
limbs labelled "right". The poses are already mirror-symmetric, so nothing is lost;
:class:`~posecourse.data.transforms.RandomFlip` refuses synthetic samples unless told otherwise.

Rendering is vectorized numpy: one distance-to-segment field per capsule over the pixel window of its figure. Sample
``i`` is a pure function of ``(seed, i)``."""
from __future__ import annotations

import cmath
import math

import numpy as np
import torch
from torch.utils.data import Dataset

from ..params import as_float, as_int, as_pair
from ..skeletons import get_skeleton
from ._io import check_index
from ._raster import _draw_capsules, _texture_bank

__all__ = ["SyntheticPoseDataset", "LEFT_COLOR", "RIGHT_COLOR", "JOINTS", "render_sample"]

LEFT_COLOR = (0.95, 0.45, 0.10)   #: the person's left limbs: warm (orange-red) family
RIGHT_COLOR = (0.10, 0.50, 0.95)  #: the person's right limbs: cool (blue) family
TORSO_COLORS = ((0.35, 0.75, 0.30), (0.85, 0.80, 0.25), (0.80, 0.80, 0.80), (0.60, 0.40, 0.75), (0.30, 0.70, 0.65))
SKIN_COLORS = ((0.96, 0.82, 0.68), (0.85, 0.65, 0.48), (0.60, 0.42, 0.30), (0.40, 0.28, 0.20))

#: The joints the generator places, in its own order (names as in :mod:`posecourse.skeletons`).
JOINTS = ("pelvis", "thorax", "upper_neck", "head_top",
          "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
          "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
          "nose", "left_eye", "right_eye", "left_ear", "right_ear")
_J = {n: i for i, n in enumerate(JOINTS)}
MAX_PEOPLE, MAX_SCALE, MAX_DISTRACTORS = 64, 4.0, 64.0  # parameter caps: rendering cost grows with each
MAX_BANK_BYTES = 2**30  # the texture bank (bank_size x 3 x S x S float32, S = 1.5 x image side) stays below 1 GiB

# Body proportions as fractions of the figure height h (head top to ankles when upright).
_LEN = dict(torso=0.30, neck=0.055, head=0.13, shoulder=0.11, hip=0.075,
            upper_arm=0.17, forearm=0.15, thigh=0.23, shin=0.23)
_RAD = dict(upper_arm=0.036, forearm=0.031, thigh=0.046, shin=0.039, neck=0.028, shoulders=0.042, hips=0.05)
# Joint-angle limits in degrees (low, high); "out" rotates a limb away from the body midline.
_LIMITS = np.array([
    (-12, 12),    # 0 torso lean
    (-18, 18),    # 1 neck bend
    (-25, 160),   # 2 left upper arm, out from hanging down
    (-25, 160),   # 3 right upper arm
    (-35, 145),   # 4 left elbow, forearm turning further out (+) or in (-)
    (-35, 145),   # 5 right elbow
    (-15, 55),    # 6 left thigh, out from straight down
    (-15, 55),    # 7 right thigh
    (-70, 45),    # 8 left knee
    (-70, 45),    # 9 right knee
], dtype=np.float64)
_REST = np.array([0, 0, 10, 10, 10, 10, 5, 5, 0, 0], dtype=np.float64)
# Face points on a unit head: (X to the person's left, Y up, Z forward).
_FACE = np.array([(0.0, -0.15, 1.0), (0.38, 0.25, 0.88), (-0.38, 0.25, 0.88), (0.97, 0.05, -0.05), (-0.97, 0.05, -0.05)])
_FACE_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def _sample_figure(rng: np.random.Generator, height: float, center: complex, rot_deg: float,
                   pose_range: float, back_prob: float):
    """One figure of the given height (px), its middle at ``center``, turned by up to ``rot_deg``: returns
    ``(z, face_hidden, caps, head)``, joints ``z (21,)`` complex ``x + iy`` in image pixels (order
    :data:`JOINTS`); ``face_hidden (5,)`` bool, face points on the far side of the head; ``caps``, a list
    of ``(a, b, radius, rgb)`` capsules in drawing order (back to front); ``head = (centre, radius)``."""
    u = rng.random(24)
    ang = np.deg2rad(_REST + pose_range * (_LIMITS[:, 0] + u[:10] * (_LIMITS[:, 1] - _LIMITS[:, 0]) - _REST)).tolist()
    # yaw: mostly facing the camera, sometimes away; |cos| >= 0.3 keeps shoulders apart
    yaw = math.radians(-70 + 140 * u[10]) + (math.pi if u[11] < back_prob else 0.0)
    c, s = math.cos(yaw), math.sin(yaw)
    face = 1.0 if c >= 0 else -1.0
    width = face * max(abs(c), 0.3)
    prop = (1 + 0.08 * (2 * u[12:16] - 1)).tolist()  # arm, leg, torso, width jitter
    u = u.tolist()
    rot = math.radians(rot_deg * (2 * u[16] - 1))

    down = 1j * complex(math.cos(ang[0]), math.sin(ang[0]))  # torso's "down", image coords (y down)
    lat = down * -1j                                       # lateral: +x (the person's left when facing us)
    z = np.zeros(len(JOINTS), dtype=np.complex128)
    z[_J["thorax"]] = -down * _LEN["torso"] * prop[2]
    nd = down * complex(math.cos(ang[1]), math.sin(ang[1]))
    z[_J["upper_neck"]] = z[_J["thorax"]] - nd * _LEN["neck"]
    z[_J["head_top"]] = z[_J["upper_neck"]] - nd * _LEN["head"]
    for side, sgn, k in (("left", 1.0, 0), ("right", -1.0, 1)):
        out = sgn * face  # +1: rotating "out" moves toward image +x
        sh = z[_J["thorax"]] + lat * sgn * width * _LEN["shoulder"] * prop[3] + down * 0.02
        ua = down * cmath.exp(-1j * out * ang[2 + k])
        el = sh + ua * _LEN["upper_arm"] * prop[0]
        wr = el + ua * cmath.exp(-1j * out * ang[4 + k]) * _LEN["forearm"] * prop[0]
        hp = lat * sgn * width * _LEN["hip"] * prop[3]
        th = down * cmath.exp(-1j * out * ang[6 + k])
        kn = hp + th * _LEN["thigh"] * prop[1]
        an = kn + th * cmath.exp(-1j * out * ang[8 + k]) * _LEN["shin"] * prop[1]
        for name, val in (("shoulder", sh), ("elbow", el), ("wrist", wr), ("hip", hp), ("knee", kn), ("ankle", an)):
            z[_J[f"{side}_{name}"]] = val
    # head: a disc between upper neck and head top; face points from a unit head turned by yaw
    hc = (z[_J["upper_neck"]] + z[_J["head_top"]]) / 2
    hr = abs(z[_J["head_top"]] - z[_J["upper_neck"]]) / 2
    up_h = -nd
    X, Y, Z = _FACE.T
    lateral, depth = X * c + Z * s, Z * c - X * s
    z[[_J[n] for n in _FACE_NAMES]] = hc + hr * (lateral * (up_h * 1j) + Y * up_h)
    face_hidden = depth < -0.1

    # to the image: scale, rotate about the figure's middle, place its middle at `center`
    mid = (z[:16].real.min() + z[:16].real.max()) / 2 + 1j * (z[:16].imag.min() + z[:16].imag.max()) / 2
    zi = center + height * complex(math.cos(rot), math.sin(rot)) * (z - mid)

    # colours: jittered cue families, lower limbs lighter; torso and skin from palettes
    jit = 0.85 + 0.25 * u[17]
    tone = lambda col, g, o: tuple(min(max(v * g + o, 0.0), 1.0) for v in col)  # gain, offset, clipped
    lcol = tone(LEFT_COLOR, jit, 0.06 * (u[18] - 0.5))
    rcol = tone(RIGHT_COLOR, jit, 0.06 * (u[19] - 0.5))
    torso = tone(TORSO_COLORS[int(u[20] * len(TORSO_COLORS))], 0.85 + 0.2 * u[21], 0.0)
    skin = SKIN_COLORS[int(u[22] * len(SKIN_COLORS))]
    light = lambda col: tone(col, 1.15, 0.05)
    J, H = lambda n: zi[_J[n]], height
    limbs = {}
    for side, col in (("left", lcol), ("right", rcol)):
        limbs[side + "_arm"] = [(J(f"{side}_shoulder"), J(f"{side}_elbow"), _RAD["upper_arm"] * H, col),
                                (J(f"{side}_elbow"), J(f"{side}_wrist"), _RAD["forearm"] * H, light(col))]
        limbs[side + "_leg"] = [(J(f"{side}_hip"), J(f"{side}_knee"), _RAD["thigh"] * H, col),
                                (J(f"{side}_knee"), J(f"{side}_ankle"), _RAD["shin"] * H, light(col))]
    body = [(J("left_hip"), J("right_hip"), _RAD["hips"] * H, tone(torso, 0.8, 0.0)),
            (J("pelvis"), J("thorax"), 0.07 * H * max(abs(c), 0.6), torso),
            (J("left_shoulder"), J("right_shoulder"), _RAD["shoulders"] * H, torso),
            (J("thorax"), J("upper_neck"), _RAD["neck"] * H, tone(skin, 0.9, 0.0))]
    hci = center + height * complex(math.cos(rot), math.sin(rot)) * (hc - mid)
    hair = tone((0.25, 0.18, 0.12), 0.7 + 0.6 * u[23], 0.0)
    head = [(hci, hci, hr * H, skin if face > 0 else hair)]
    if face > 0 or abs(s) > 0.5:  # eyes on the side the face looks at
        for n in ("left_eye", "right_eye"):
            if not face_hidden[_FACE_NAMES.index(n)]:
                head.append((J(n), J(n), max(0.2 * hr * H, 0.6), (0.1, 0.1, 0.1)))
    near, far = ("left", "right") if s < 0 else ("right", "left")  # near: the side turned toward the camera
    caps = limbs[far + "_leg"] + limbs[far + "_arm"] + body + limbs[near + "_leg"] + head + limbs[near + "_arm"]
    return zi, face_hidden, caps, (hci, hr * H)


def render_sample(rng: np.random.Generator, bank: np.ndarray, size: tuple[int, int], num_people: int,
                  scale_range: tuple[float, float], rotation_deg: float, pose_range: float, back_prob: float,
                  occlusion: float):
    """Draw one image on a crop of a ``bank`` texture: ``(image (3, H, W) float32, z (P, 21) complex joints,
    vis (P, 21), boxes (P, 4))``."""
    H, W = size
    S = min(H, W)
    # background: random crop of a bank texture, random flips, colour gain and offset
    u = rng.random(8)
    tex = bank[int(u[0] * len(bank))]
    oy, ox = int(u[1] * (tex.shape[1] - H + 1)), int(u[2] * (tex.shape[2] - W + 1))
    bg = tex[:, oy:oy + H, ox:ox + W]
    bg = bg[:, :, ::-1] if u[3] < 0.5 else bg
    bg = bg[:, ::-1] if u[4] < 0.5 else bg
    gain = rng.uniform(0.8, 1.2, (3, 1, 1)).astype(np.float32)
    img = bg * gain + np.float32(0.1 * (u[5] - 0.5))
    owner = np.full((H, W), -1, np.int16)

    figures = []  # (z, face_hidden, caps, head) per person
    for p in range(num_people):
        h = S * rng.uniform(*scale_range)
        if num_people == 1:
            c = (W - 1) / 2 + 0.08 * W * (2 * rng.random() - 1) + 1j * ((H - 1) / 2 + 0.08 * H * (2 * rng.random() - 1))
        else:
            c = rng.uniform(0.12, 0.88) * W + 1j * rng.uniform(0.15, 0.85) * H
        figures.append(_sample_figure(rng, h, c, rotation_deg, pose_range, back_prob))
        _draw_capsules(img, owner, figures[-1][2], p)
    zs, hidden, _, heads = zip(*figures)
    z = np.stack(zs)

    # occluders: rectangles over part of a figure
    occ = rng.random((num_people, 6))
    for p in np.flatnonzero(occ[:, 0] < occlusion):
        h = abs(zs[p][_J["head_top"]] - zs[p][_J["left_ankle"]])
        k = int(occ[p, 1] * 16)
        cx, cy = zs[p][k].real, zs[p][k].imag
        hw, hh = (0.08 + 0.12 * occ[p, 2]) * h, (0.08 + 0.12 * occ[p, 3]) * h
        x0, x1 = max(int(cx - hw), 0), min(int(cx + hw) + 1, W)
        y0, y1 = max(int(cy - hh), 0), min(int(cy + hh) + 1, H)
        if x1 > x0 and y1 > y0:
            col = rng.uniform(0.1, 0.9, 3).astype(np.float32)
            img[:, y0:y1, x0:x1] = col[:, None, None] * (0.9 + 0.1 * bg[:, y0:y1, x0:x1])
            owner[y0:y1, x0:x1] = -2

    # visibility: 0 outside, 1 if something else is on top (or a face point behind the head), else 2
    x, y = z.real, z.imag
    inside = (x >= -0.5) & (x < W - 0.5) & (y >= -0.5) & (y < H - 0.5)
    xi, yi = (np.clip(np.rint(v).astype(np.int64), 0, side - 1) for v, side in ((x, W), (y, H)))
    on_top = owner[yi, xi]
    covered = (on_top == -2) | ((on_top >= 0) & (on_top != np.arange(num_people)[:, None]))  # occluder / other person
    vis = np.where(inside, np.where(covered, 1, 2), 0).astype(np.float32)
    face_idx = [_J[n] for n in _FACE_NAMES]
    vis[:, face_idx] = np.where(np.stack(hidden) & (vis[:, face_idx] > 0), 1, vis[:, face_idx])

    # boxes: around all joints and the head disc, padded by a limb radius
    hc, hr = (np.array(v) for v in zip(*heads))  # head centres (complex), radii
    pad = _RAD["thigh"] * np.abs(z[:, _J["head_top"]] - z[:, _J["upper_neck"]]) / _LEN["head"]
    lo = np.stack([np.minimum(x.min(1), hc.real - hr), np.minimum(y.min(1), hc.imag - hr)], 1) - pad[:, None]
    hi = np.stack([np.maximum(x.max(1), hc.real + hr), np.maximum(y.max(1), hc.imag + hr)], 1) + pad[:, None]
    boxes = np.concatenate([lo, hi - lo], 1).astype(np.float32)  # (P, 4) x0, y0, w, h
    np.clip(img, np.float32(0), np.float32(1), out=img)
    return img, z, vis, boxes


class SyntheticPoseDataset(Dataset):
    """Seeded articulated figures on clutter, as :mod:`posecourse.data` sample dicts. Each argument is checked on
    construction (``ValueError`` naming the parameter; ints must be ints, not floats, bools or text; numbers must be
    finite): ``length`` samples, an int >= 0; ``image_size``: int or ``(H, W)``, sides in 32..1024 (64..256 px is the
    tested range); ``num_people``: an int in 1..``MAX_PEOPLE`` (64), or ``(low, high)``: a count drawn per image
    (inclusive); ``skeleton``: ``"mpii16"`` (single person) or ``"coco17"``, other layouts via
    :func:`posecourse.skeletons.convert_keypoints` (e.g. COCO-18); ``seed``: an int >= 0, sample ``i`` depends only on
    ``(seed, i)`` (not on workers or order); ``scale_range``: figure height as a fraction of the image side,
    ``(low, high)`` with ``0 < low <= high <= 4`` (or one number), default ``(0.6, 0.8)`` for one person,
    ``(0.3, 0.55)`` for several; ``rotation_deg``: global figure rotation drawn in ``[-rotation_deg, rotation_deg]``,
    0..180; ``pose_range``: 0 = rest pose only, 1 = the full joint-angle limits; ``back_prob``: probability a figure
    faces away from the camera, 0..1; ``clutter``: background contrast, 0 (flat) .. 1 (full texture); ``distractors``:
    mean number of unattached limb-like capsules per image, 0..64 (drawn into the bank); ``occlusion``: probability per
    person of a rectangle drawn over one of its joints, 0..1; ``bank_size``: number of pre-generated background
    textures, 1..1024, and the bank (float32 textures of 1.5x the image side) under 1 GiB.

    Items: the sample dict of :mod:`posecourse.data` (``boxes`` not clipped to the image; ``meta``:
    ``source="synthetic"``, ``index``, ``seed``). Do not flip-augment with the left/right swap (module note)."""

    def __init__(self, length: int, image_size=64, num_people=1, skeleton: str = "mpii16", seed: int = 0,
                 scale_range=None, rotation_deg: float = 25.0, pose_range: float = 1.0, back_prob: float = 0.25,
                 clutter: float = 0.7, distractors: float = 2.0, occlusion: float = 0.15, bank_size: int = 16):
        length, seed = (as_int(n, v, 0, exact=True) for n, v in (("length", length), ("seed", seed)))
        size = as_pair("image_size", image_size, lambda n, v: as_int(n, v, 32, 1024, exact=True))
        lo, hi = as_pair("num_people", num_people, lambda n, v: as_int(n, v, 1, MAX_PEOPLE, exact=True))
        if lo > hi:
            raise ValueError(f"num_people: expected low <= high, got {num_people!r}")
        if not (isinstance(skeleton, str) and skeleton in ("mpii16", "coco17")):
            raise ValueError(f"skeleton: the generator draws 'mpii16' or 'coco17' (got {skeleton!r}); "
                             "convert others with posecourse.skeletons.convert_keypoints")
        skel = get_skeleton(skeleton)
        scale_range = as_pair("scale_range", ((0.6, 0.8) if hi == 1 else (0.3, 0.55)) if scale_range is None else
                              scale_range, lambda n, v: as_float(n, v, 0.0, MAX_SCALE, exact=True))
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range: expected 0 < low <= high, got {scale_range!r}")
        real = {k: as_float(k, v, 0.0, top, exact=True) for k, v, top in (
            ("pose_range", pose_range, 1.0), ("back_prob", back_prob, 1.0), ("clutter", clutter, 1.0),
            ("occlusion", occlusion, 1.0), ("rotation_deg", rotation_deg, 180.0),
            ("distractors", distractors, MAX_DISTRACTORS))}
        self.length, self.size, self.people, self.skeleton, self.seed = length, size, (lo, hi), skel, seed
        self.clutter, self.distractors = real.pop("clutter"), real.pop("distractors")
        self.kw = dict(scale_range=scale_range, **real)  # render_sample's keywords
        self.bank_size = as_int("bank_size", bank_size, 1, 1024, exact=True)
        self._side = side = max(size) + max(size) // 2  # texture side: room for random crops
        if self.bank_size * 3 * side * side * 4 > MAX_BANK_BYTES:
            raise ValueError(f"bank_size: {self.bank_size} textures of {side}x{side} px (for image_size {size}) "
                             f"would take {self.bank_size * 12 * side * side / 2**30:.1f} GiB, above 1 GiB; use fewer")
        self._index = np.array([JOINTS.index(n) for n in skel.joints])
        self._bank = None

    @property
    def bank(self) -> np.ndarray:
        """``(bank_size, 3, S, S)`` textures, made on first use from ``seed`` (identical in every worker)."""
        if self._bank is None:
            self._bank = _texture_bank(np.random.default_rng([self.seed, 2**31 - 1]), self.bank_size, self._side,
                                       min(self.size), self.clutter, self.distractors)
        return self._bank

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, self.length)
        rng = np.random.default_rng([self.seed, index])
        lo, hi = self.people
        P = lo if lo == hi else int(rng.integers(lo, hi + 1))
        img, z, vis, boxes = render_sample(rng, self.bank, self.size, P, **self.kw)
        z, vis = z[:, self._index], vis[:, self._index]
        kp = np.stack([z.real, z.imag], -1).astype(np.float32)
        return {"image": torch.from_numpy(img), "keypoints": torch.from_numpy(kp),
                "visibility": torch.from_numpy(np.ascontiguousarray(vis)), "boxes": torch.from_numpy(boxes),
                "skeleton": self.skeleton.name, "meta": {"source": "synthetic", "index": index, "seed": self.seed}}

    def __repr__(self) -> str:
        return (f"SyntheticPoseDataset(length={self.length}, image_size={self.size}, num_people={self.people}, "
                f"skeleton={self.skeleton.name!r}, seed={self.seed})")
