"""Codecs: one object per kind of training target, whose ``encode`` and ``decode`` share their parameters.

A codec turns a batch's labels into what the loss compares with the model's output (``encode``) and
the model's output back into poses in image pixels (``decode``), with the same sizes, strides and
Gaussian widths both ways, so they can't drift apart. The paper-named functions they call live in
:mod:`posecourse.targets` (``heatmap.encode``, ``paf.line_integral``, ``paf.assemble``, ...).

========================  =============================  ==================================================
codec                     ``encode(batch)`` -> loss kw   ``decode(output)`` -> :class:`Poses`
========================  =============================  ==================================================
:class:`RegressionCodec`  ``N(y; b)`` (DeepPose)         ``N^{-1}``, one person per image
:class:`HeatmapCodec`     Gaussian belief maps           argmax + sub-pixel, one person per image
:class:`PAFCodec`         belief maps + PAFs (OpenPose)  peaks + line integral + assembly: people per image
========================  =============================  ==================================================

Every codec is a :class:`Codec`: ``encode`` returns keyword arguments of the lecture's loss
(:mod:`posecourse.models.losses`), so a training step is ``loss(outputs, **codec.encode(batch))`` for every
family, and ``decode`` returns :class:`Poses` for every family (the rest: :class:`Codec`).
A batch is a dict as from :func:`posecourse.data.collate`: ``keypoints (B, P, K, 2)`` image px,
``visibility (B, P, K)``, ``image (B, 3, H, W)``.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, replace
from typing import ClassVar, NamedTuple

import numpy as np
import torch

from ..geometry import as_size, denormalize, normalize
from ..params import as_int, one_of
from ..skeletons import get_skeleton
from . import heatmap, paf, regression
from .heatmap import _check_positive

__all__ = ["Codec", "Poses", "RegressionCodec", "HeatmapCodec", "PAFCodec", "dark_kernel_for"]


def _stages(outputs) -> list:
    """A model's output as a list over stages (a single tensor is one stage)."""
    stages = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not stages:
        raise ValueError("outputs: an empty list of stages (expected the model's output: a tensor, or a list over "
                         "stages)")
    return stages


def _check_map(t: torch.Tensor, size: tuple[int, int], who: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or t.dim() < 3:
        raise ValueError(f"{who}: expected the model's output maps, a tensor (B, C, h, w) (or a list of them "
                         f"over stages), got {type(t).__name__} {tuple(t.shape) if isinstance(t, torch.Tensor) else ''}")
    if tuple(t.shape[-2:]) != size:
        raise ValueError(f"{who}: the model's maps are {tuple(t.shape[-2:])}, the codec encodes {size} "
                         "(build the codec with the model's output size)")
    return t.float()


def dark_kernel_for(sigma: float) -> int:
    """The odd blur size ``k >= 3`` whose OpenCV default Gaussian width ``0.3 ((k - 1) / 2 - 1) + 0.8``
    is nearest ``sigma`` (heatmap px): 11 for sigma 2, 17 for sigma 3, 7 for sigma 1.5."""
    sigma = _check_positive(sigma, "sigma")
    half = max(1, round((sigma - 0.8) / 0.3 + 1))  # (k - 1) / 2
    return 2 * half + 1


class Poses(NamedTuple):
    """What every codec's ``decode`` returns: ``keypoints (B, P, K, 2)`` image px and ``scores (B, P, K)``.

    A top-down codec finds one person per image (``P = 1``); a bottom-up one pads each image's people to
    the most any image of the batch holds, with NaN coordinates and score 0 (a found person has a part
    with score > 0). ``single()`` and ``people(i)`` are the two common views.
    """

    keypoints: torch.Tensor
    scores: torch.Tensor

    @classmethod
    def one_each(cls, coords, scores=None) -> "Poses":
        """One person per image from ``coords (B, K, 2)`` and ``scores (B, K)`` (None: all 1)."""
        coords = torch.as_tensor(coords, dtype=torch.float32)
        scores = torch.ones(coords.shape[:-1]) if scores is None else torch.as_tensor(scores, dtype=torch.float32)
        return cls(coords[:, None], scores[:, None].to(coords.device))

    @classmethod
    def from_people(cls, people, num_joints: int) -> "Poses":
        """Pad a list over images of ``(P_i, K, 3)`` people (x, y, score; :func:`~posecourse.targets.paf.assemble`)."""
        found = [torch.as_tensor(np.asarray(p, dtype=np.float32).reshape(-1, num_joints, 3)) for p in people]
        out = torch.full((len(found), max([len(p) for p in found], default=0), num_joints, 3), math.nan)
        out[..., 2] = 0.0
        for i, p in enumerate(found):
            out[i, :len(p)] = p
        return cls(out[..., :2], out[..., 2])

    def single(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coords (B, K, 2), scores (B, K))`` of a one-person-per-image prediction."""
        if self.keypoints.dim() != 4 or self.keypoints.shape[1] != 1:
            raise ValueError(f"Poses.single: expected one person per image, keypoints (B, 1, K, 2), got "
                             f"{tuple(self.keypoints.shape)} (a bottom-up codec's people: use .people(i))")
        return self.keypoints[:, 0], self.scores[:, 0]

    def people(self, i: int) -> np.ndarray:
        """The people image ``i`` holds, padding left out: ``(P_i, K, 3)`` (x, y, score)."""
        rows = torch.cat([self.keypoints[i], self.scores[i, ..., None]], -1).detach().float().cpu()
        return rows[~rows[..., :2].isnan().all(-1).all(-1) | (rows[..., 2] != 0).any(-1)].numpy()


class Codec(abc.ABC):
    """What every codec answers (MMPose's ``BaseKeypointCodec``, kept small): the loss targets of a batch,
    the poses of a model's output, and the facts callers route on instead of the codec's type."""

    #: the flip test applies (:meth:`decode_flip`)
    flip_test: ClassVar[bool] = False
    #: finds the people of a whole image (bottom-up), else one person per (cropped) image
    bottom_up: ClassVar[bool] = False
    #: the sub-pixel ``method`` values ``decode`` takes (none: it has one way)
    methods: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def encode(self, batch: dict) -> dict:
        """Keyword arguments of the lecture's loss for ``batch``."""

    @abc.abstractmethod
    def decode_stages(self, outputs, **options) -> list[Poses]:
        """:class:`Poses` of every stage / stack of ``outputs`` (intermediate supervision: each is a prediction)."""

    def decode(self, outputs, **options) -> Poses:
        """:class:`Poses` of the last stage of ``outputs``."""
        return self.decode_stages(_stages(outputs)[-1:], **options)[0]

    @abc.abstractmethod
    def for_model(self, input_size, num_joints: int, output_of) -> "Codec":
        """This codec for a model at ``input_size`` predicting ``num_joints`` (``output_of()``: its output
        on a dummy batch)."""

    def decode_flip(self, outputs, outputs_flipped, flip_index, shift: int = 0, **options) -> Poses:
        """The flip test: decode the average of ``outputs`` and of the mirror image's ``outputs_flipped``."""
        raise NotImplementedError(f"{type(self).__name__} has no flip test (flip_test is False): its output has "
                                  "no maps to average with the mirror image's")


@dataclass(frozen=True)
class RegressionCodec(Codec):
    """DeepPose's target: joints normalized by the person box, ``N(y; b) = (y - b_c) / (b_w, b_h)``. The course's
    images are crops around the person, so ``b`` is the whole image (:func:`~.regression.image_box`) and
    ``N(y; b)`` lies in ``[-0.5, 0.5]`` inside it."""

    input_size: tuple[int, int]  #: ``(H, W)`` of the model's input

    def __post_init__(self):
        object.__setattr__(self, "input_size", as_size(self.input_size, "input_size"))

    def for_model(self, input_size, num_joints: int, output_of) -> "RegressionCodec":
        """This codec for a model at ``input_size`` (the box is the image: nothing else is needed)."""
        return replace(self, input_size=input_size)

    def encode(self, batch: dict) -> dict:
        """``{"target": N(y; b) (B, K, 2), "visibility": (B, K)}`` of person 0 (kwargs of
        :func:`posecourse.models.losses.coordinate_loss`)."""
        kp = batch["keypoints"][:, 0]
        target = normalize(kp, regression.image_box(self.input_size, len(kp), kp.device))
        return {"target": target, "visibility": batch["visibility"][:, 0]}

    def decode_stages(self, outputs) -> list[Poses]:
        """``N^{-1}`` of each stage: normalized ``(B, K, 2)`` -> image px, scores all 1 (no confidence)."""
        return [Poses.one_each(denormalize(n.float(), regression.image_box(self.input_size, len(n), n.device)))
                for n in _stages(outputs)]


@dataclass(frozen=True)
class HeatmapCodec(Codec):
    """Gaussian belief maps (CPM, Stacked Hourglass, HRNet) and their sub-pixel decoder.

    ``encode`` places a Gaussian of width ``sigma`` (heatmap px, form ``convention``: see
    :mod:`posecourse.targets.heatmap`) at each joint, plus CPM's background map ``1 - max_j S_j`` as channel ``K``
    when ``background``. ``decode`` refines each joint map's argmax by ``method`` (:func:`~.heatmap.decode`).

    DARK's blur kernel belongs beside ``sigma`` (as in MMPose's ``MSRAHeatmap``): :attr:`dark_kernel` is
    :func:`dark_kernel_for` ``(sigma)``: 11 for sigma 2 and 17 for 3 (DARK's and MMPose's configs), 7 for 1.5.
    """

    input_size: tuple[int, int]  #: ``(H, W)`` image px
    heatmap_size: tuple[int, int]  #: ``(h, w)`` heatmap px
    num_joints: int
    sigma: float = 2.0
    convention: str = "hrnet"
    background: bool = False
    method: str = "quarter"
    flip_test: ClassVar[bool] = True
    methods: ClassVar[tuple[str, ...]] = ("argmax", "quarter", "dark", "soft_argmax")

    def __post_init__(self):
        object.__setattr__(self, "input_size", as_size(self.input_size, "input_size"))
        object.__setattr__(self, "heatmap_size", as_size(self.heatmap_size, "heatmap_size"))
        as_int("num_joints", self.num_joints, 1, exact=True)
        _check_positive(self.sigma, "sigma")
        one_of("convention", self.convention, ("hrnet", "cpm"))
        one_of("method", self.method, self.methods)
        if not isinstance(self.background, (bool, np.bool_)):
            raise ValueError(f"background: expected True or False, got {self.background!r}")
        (H, W), (h, w) = self.input_size, self.heatmap_size
        if H * w != W * h:
            raise ValueError(f"heatmap_size: {self.heatmap_size} is not a uniform scaling of input_size {self.input_size}")

    @property
    def stride(self) -> float:
        """Image px per heatmap px."""
        return self.input_size[0] / self.heatmap_size[0]

    def for_model(self, input_size, num_joints: int, output_of) -> "HeatmapCodec":
        """This codec for a model at ``input_size`` predicting ``num_joints``: the heatmap size is read from
        the last stage of ``output_of()`` (the model's output on a dummy batch)."""
        last = _stages(output_of())[-1]
        return replace(self, input_size=input_size, heatmap_size=tuple(last.shape[-2:]), num_joints=num_joints)

    @property
    def dark_kernel(self) -> int:
        """DARK's Gaussian blur size for this codec's ``sigma`` (odd, >= 3: :func:`dark_kernel_for`)."""
        return dark_kernel_for(self.sigma)

    def encode(self, batch: dict) -> dict:
        """``{"target": (B, K[+1], h, w), "weight": (B, K[+1])}`` (kwargs of :func:`posecourse.models.losses.heatmap_loss`)."""
        target, weight = heatmap.encode(batch["keypoints"], batch["visibility"], heatmap_size=self.heatmap_size,
                                        stride=self.stride, sigma=self.sigma, convention=self.convention,
                                        background=self.background)
        return {"target": target, "weight": weight}

    def decode_stages(self, outputs, method: str | None = None) -> list[Poses]:
        """Each stage's maps ``(B, C, h, w)`` -> the argmax refined by ``method`` (default the codec's) in
        image px, scored by the maxima."""
        K = self.num_joints
        return [Poses.one_each(*heatmap.decode(_check_map(hm, self.heatmap_size, "HeatmapCodec.decode")[:, :K],
                                               stride=self.stride, method=method or self.method,
                                               dark_kernel=self.dark_kernel)) for hm in _stages(outputs)]

    def decode_flip(self, outputs, outputs_flipped, flip_index, shift: int = 0, method: str | None = None) -> Poses:
        """Decode :func:`~posecourse.targets.heatmap.flip_test`'s average of the last stages' joint maps
        (the mirror's mirrored back, channels ``flip_index``-swapped, shifted ``shift`` heatmap px)."""
        a, b = (_stages(o)[-1][:, :self.num_joints] for o in (outputs, outputs_flipped))
        return self.decode(heatmap.flip_test(a, b, flip_index, shift=shift), method=method)


@dataclass(frozen=True)
class PAFCodec(Codec):
    """OpenPose's targets: belief maps of every person's parts (with the background channel) and Part
    Affinity Fields of the skeleton's limbs; ``decode`` = peaks + line integral + assembly into people.

    ``limb_width`` is the PAF's half width ``sigma_l`` in heatmap px; ``sigma`` the belief maps' width.
    """

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    skeleton: str = "coco18"
    sigma: float = 1.0
    limb_width: float = 1.0
    convention: str = "hrnet"
    bottom_up: ClassVar[bool] = True  # no flip test: mirroring would have to flip the PAF vectors too

    def __post_init__(self):
        object.__setattr__(self, "input_size", as_size(self.input_size, "input_size"))
        object.__setattr__(self, "heatmap_size", as_size(self.heatmap_size, "heatmap_size"))
        _check_positive(self.sigma, "sigma")
        _check_positive(self.limb_width, "limb_width")
        one_of("convention", self.convention, ("hrnet", "cpm"))
        get_skeleton(self.skeleton)  # a clear error for an unknown name

    stride = HeatmapCodec.stride  # image px per heatmap px

    def for_model(self, input_size, num_joints: int, output_of) -> "PAFCodec":
        """This codec for a model at ``input_size`` (the maps' size from ``output_of()``, the skeleton's joints)."""
        last = _stages(output_of())[-1]
        return replace(self, input_size=input_size, heatmap_size=tuple(last["heatmaps"].shape[-2:]))

    def encode(self, batch: dict) -> dict:
        """Kwargs of :func:`posecourse.models.losses.openpose_loss`: ``heatmap_target (B, K + 1, h, w)``,
        ``paf_target (B, 2L, h, w)`` and the masks ``W(p)`` (None: every synthetic person is annotated)."""
        sk = get_skeleton(self.skeleton)
        hm, _ = heatmap.encode(batch["keypoints"], batch["visibility"], heatmap_size=self.heatmap_size,
                               stride=self.stride, sigma=self.sigma, convention=self.convention, background=True)
        field = paf.encode(batch["keypoints"], batch["visibility"], sk.limbs, heatmap_size=self.heatmap_size,
                           stride=self.stride, limb_width=self.limb_width)
        return {"paf_target": field, "heatmap_target": hm, "paf_weight": None, "heatmap_weight": None}

    def decode_stages(self, outputs, **assemble_kw) -> list[Poses]:
        """Each stage's ``{"heatmaps", "paf"}`` -> the people :func:`~posecourse.targets.paf.assemble` finds in
        each image (image px; a missing part: NaN, score 0)."""
        sk, out = get_skeleton(self.skeleton), []
        for stage in _stages(outputs):
            hm = _check_map(stage["heatmaps"], self.heatmap_size, "PAFCodec.decode").cpu()
            field = stage["paf"].float().cpu()
            out.append(Poses.from_people([paf.assemble(hm[b], field[b], sk, stride=self.stride, **assemble_kw)
                                          for b in range(len(hm))], sk.num_joints))
        return out
