"""The course's lectures: one record each, the one place every fact about a lecture lives.

The notebooks, the course runner, the checkpoint trainer, the grader's exercise list, the tests and
the benchmarks all read :data:`LECTURES`; adding a lecture is one new record here, one model file
and one notebook (``lectures/<name>.ipynb``) with its exercise (``solutions/<exercise>.ipynb``)::

    from posecourse.lectures import get_lecture
    lec = get_lecture("03_hourglass")
    lec.model, lec.codec, lec.metric, lec.steps     # 'hourglass_tiny', HeatmapCodec(...), PCKh(0.5), 625
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import statistics
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..models import losses
from ..targets.codecs import HeatmapCodec, PAFCodec, RegressionCodec
from ..data.recipe import DataRecipe
from ..evaluation import OKSAP, PCK, PDJ, PCKh
from ..models import create_model
from ..params import as_bool, as_device, as_optional_int, as_seed
from ..skeletons import get_skeleton

__all__ = ["Lecture", "RunSettings", "LECTURES", "get_lecture", "COMPARE_IMAGES", "OPTIMIZER", "SPREAD_FILE",
           "checkpoint_dir"]

#: Lecture 5's common training budget (images) at which it compares all five models: each shipped
#: checkpoint run saves a snapshot after this many images.
COMPARE_IMAGES = 32_000


def checkpoint_dir() -> Path:
    """The folder of the shipped checkpoints and the spread (package data, inside the installed package; the
    checkpoint trainer writes there by default)."""
    return Path(str(resources.files("posecourse") / "checkpoints"))


#: each lecture's live-run metric per seed, measured by ``python -m posecourse_tools.spread``
SPREAD_FILE = checkpoint_dir() / "spread.json"
SPREAD_SEEDS = 5  #: the seeds a spread needs before it sets a minimum


@cache
def _spread_rows() -> list[dict]:
    return json.loads(SPREAD_FILE.read_text()) if SPREAD_FILE.exists() else []


@dataclass(frozen=True)
class Lecture:
    """Everything about one lecture.

    Training budget: ``steps`` optimizer steps of ``batch_size`` images (Adam, ``lr``) for the live run
    in the notebook (``smoke_steps`` in smoke mode), ``checkpoint_steps`` for the shipped checkpoint.
    ``minimum``: the least ``metric`` value the live run must reach at default parameters on held-out
    images (checked by ``make course``): ``max(floor, mean - 3 sd)`` of the :attr:`spread`, rounded down to
    0.01, or ``floor`` while no spread of the current recipe is stored. Training is deterministic on one
    machine, but another CPU's floating point moves the result within about the spread over seeds (the
    proxy for "any CPU"); 3 sd leaves a student's run one chance in several hundred of failing if it is
    normal, and with 5 seeds mean - 3 sd is always below the worst seed (at most 1.79 sd from the mean).
    The spread can only raise ``floor``; a spread reaching below it calls for a better recipe.
    """

    name: str  #: "03_hourglass": the notebook, exercise suffix and checkpoint share it
    title: str
    paper: str
    model: str  #: a :func:`posecourse.models.create_model` name
    paper_model: str  #: the paper's config, what ``--preset paper`` trains (at its card's input size)
    codec: Any  #: a :mod:`posecourse.targets.codecs` object
    loss: Callable  #: ``loss(outputs, **codec.encode(batch)) -> scalar``
    metric: Any  #: a :mod:`posecourse.evaluation` metric object
    floor: float  #: the least ``minimum`` whatever the spread
    data: DataRecipe
    steps: int
    batch_size: int
    lr: float
    checkpoint_steps: int
    exercise: str
    smoke_steps: int = 5
    model_kw: dict = field(default_factory=dict)
    #: further step budgets of the lecture's side experiments (e.g. DeepPose's cascade stage), by name
    extra_steps: dict = field(default_factory=dict)

    @property
    def skeleton(self) -> str:
        return self.data.skeleton

    @property
    def num_joints(self) -> int:
        return get_skeleton(self.data.skeleton).num_joints

    @property
    def notebook(self) -> str:
        """Path of the notebook relative to the course's root folder."""
        return f"lectures/{self.name}.ipynb"

    def checkpoint(self, images: int | None = None) -> str:
        """File name of the shipped checkpoint, or of its snapshot after ``images`` training images."""
        return f"{self.name}.pt" if images is None else f"{self.name}_{images // 1000}k.pt"

    def build_model(self, **kw):
        """A fresh (untrained) model of this lecture."""
        return create_model(self.model, **{"num_joints": self.num_joints, **self.model_kw, **kw})

    def settings(self, seed=0, train_steps=None, device="auto", smoke=False, results_path=None,
                 use_shipped=False) -> "RunSettings":
        """Validate a notebook's parameters (papermill passes command-line values as strings) and resolve
        them: ``train_steps=None`` is this lecture's ``steps`` (``smoke_steps`` in smoke mode).

        ``use_shipped=True`` (the slow-laptop mode) skips the live training: the run's model is the shipped
        checkpoint (:func:`posecourse.lectures.shipped.train_or_load`), and ``steps`` is the record's
        ``checkpoint_steps``, the steps that model was trained for. It cannot be combined with
        ``train_steps``; ``smoke`` then only shortens the lecture's side experiments."""
        smoke = as_bool("smoke", smoke)
        use_shipped = as_bool("use_shipped", use_shipped)
        steps = as_optional_int("train_steps", train_steps, minimum=1)
        if use_shipped and steps is not None:
            raise ValueError(f"train_steps: use_shipped=True loads the shipped checkpoint ({self.checkpoint_steps:,} "
                             f"steps) and trains nothing; leave train_steps=None, got {train_steps!r}")
        if use_shipped:
            steps = self.checkpoint_steps
        steps = steps if steps is not None else (self.smoke_steps if smoke else self.steps)
        path = None if results_path in (None, "", "None") else str(results_path)
        return RunSettings(as_seed("seed", seed), steps, as_device("device", device), smoke, path, self, use_shipped)

    @property
    def optimizer(self) -> str:
        """The optimizer every run of this lecture uses, as text: :func:`posecourse.train.fit.fit` gives
        :func:`posecourse.train.train` only ``lr``, so train builds its default ``torch.optim.Adam(lr=lr)``
        (PyTorch's defaults for the rest, read here from the class; a test checks fit's optimizer)."""
        return _describe_optimizer(OPTIMIZER, self.lr)

    @property
    def recipe(self) -> str:
        """A hash of what a live run's result depends on here (model and its kw, codec, loss, metric, data, steps,
        batch, lr): a spread row counts only for its recipe, so e.g. a new codec ``sigma`` asks for a new spread."""
        fields = (self.model, sorted(self.model_kw.items()), self.codec, self.loss.__name__, self.metric, self.data)
        return hashlib.sha1(repr((*fields, self.steps, self.batch_size, self.lr)).encode()).hexdigest()[:12]

    def spread_rows(self, rows: list[dict]) -> list[dict]:
        """The rows (see :data:`SPREAD_FILE`) of this lecture measured with this record's :attr:`recipe`."""
        return [r for r in rows if r["lecture"] == self.name and r.get("recipe") == self.recipe]

    def spread_of(self, rows: list[dict]) -> tuple | None:
        """The values of :meth:`spread_rows` by seed; None with fewer than :data:`SPREAD_SEEDS` seeds."""
        by_seed = {r["seed"]: r["value"] for r in self.spread_rows(rows)}
        return tuple(by_seed[s] for s in sorted(by_seed)) if len(by_seed) >= SPREAD_SEEDS else None

    def minimum_of(self, rows: list[dict]) -> float:
        v = self.spread_of(rows)
        rule = math.floor(100 * (statistics.fmean(v) - 3 * statistics.stdev(v)) + 1e-9) / 100 if v else 0.0
        return max(self.floor, rule)

    spread = property(lambda self: self.spread_of(_spread_rows()), doc="The stored spread (None: none yet).")
    minimum = property(lambda self: self.minimum_of(_spread_rows()), doc="See the class docstring.")

    def replace(self, **changes) -> "Lecture":
        """A copy with some fields changed (e.g. a smaller held-out set for a test)."""
        return replace(self, **changes)


#: The optimizer class :func:`posecourse.train.train` builds when it is given none (every lecture's runs).
OPTIMIZER = "torch.optim.Adam"


def _describe_optimizer(path: str, lr: float) -> str:
    module, name = path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()
                if k in ("betas", "eps", "weight_decay", "momentum") and p.default is not inspect.Parameter.empty}
    rest = ", ".join(f"{k}={v}" for k, v in defaults.items())
    return f"{name}(lr={lr:g}{', ' + rest if rest else ''})"


@dataclass(frozen=True)
class RunSettings:
    """A notebook run's validated parameters (see :meth:`Lecture.settings`)."""

    seed: int
    steps: int
    device: Any
    smoke: bool
    results_path: str | None
    lecture: Lecture
    use_shipped: bool = False  #: the slow-laptop mode: the shipped checkpoint instead of the live training

    def extra(self, name: str) -> int:
        """The step budget of side experiment ``name`` (``smoke_steps`` in smoke mode)."""
        return self.lecture.smoke_steps if self.smoke else self.lecture.extra_steps[name]

    @property
    def label(self) -> str:
        """What this run's model is, for printed lines: "live run" or "shipped checkpoint"."""
        return "shipped checkpoint" if self.use_shipped else "live run"

    def plan(self) -> str:
        """What the training does, from the record, printed before it runs (nothing on the page is a black
        box): model, optimizer and learning rate, batch size, steps and images, loss and codec, seed, device."""
        lec = self.lecture
        lines = [f"model      {lec.model} ({lec.num_joints} joints, {lec.data.image_size} x {lec.data.image_size} px images)",
                 f"optimizer  {lec.optimizer}, constant learning rate (no schedule)",
                 f"batch      {lec.batch_size} images (new synthetic images every step: no image is seen twice)",
                 f"steps      {self.steps:,} optimizer steps = {self.steps * lec.batch_size:,} images",
                 f"loss       {getattr(lec.loss, '__name__', lec.loss)} on the targets of {type(lec.codec).__name__}.encode",
                 f"seed       {self.seed}{' (this notebook: data, side experiments)' if self.use_shipped else ''}, "
                 f"device {self.device}"]
        if self.use_shipped:
            lines.insert(0, f"use_shipped=True: nothing is trained here; the shipped checkpoint {lec.checkpoint()} "
                            f"was trained with this recipe (its own seed and seconds are in its metadata):")
        return "\n".join(lines)

    def __str__(self) -> str:
        if self.use_shipped:
            return (f"{self.lecture.name}: use_shipped=True: the shipped checkpoint ({self.steps:,} optimizer steps of "
                    f"{self.lecture.batch_size} images) instead of training, seed {self.seed} for everything else, "
                    f"device {self.device}{' (smoke run)' if self.smoke else ''}")
        return (f"{self.lecture.name}: {self.steps:,} optimizer steps of {self.lecture.batch_size} images, "
                f"seed {self.seed}, device {self.device}{' (smoke run)' if self.smoke else ''}")


# Single-person lectures use person-centred images: the figure fills 75-90 % of the frame, like the
# papers' crops around the person box.
_PERSON_CROP = {"scale_range": (0.75, 0.9)}
_SINGLE = DataRecipe(image_size=64, skeleton="mpii16", generator=_PERSON_CROP)


def _heatmaps(**kw) -> HeatmapCodec:
    return HeatmapCodec(input_size=64, heatmap_size=16, num_joints=16, **kw)


LECTURES: dict[str, Lecture] = {lec.name: lec for lec in [
    Lecture("01_deeppose", "DeepPose: regression of normalized joint coordinates, and the cascade",
            "Toshev & Szegedy, CVPR 2014", model="deeppose_tiny", paper_model="deeppose_alexnet",
            codec=RegressionCodec(input_size=64), loss=losses.coordinate_loss, metric=PDJ(0.2), floor=0.65,
            data=_SINGLE, steps=573, batch_size=32, lr=1e-3, checkpoint_steps=4_500, exercise="ex01_deeppose",
            # the cascade stage: each of its steps sees 16 sub-images (32 px, fit_cascade) per image, about 4x a stage-1
            # step; at seed 0 60 steps lift PDJ@0.2 from 0.699 to 0.811 (115 steps: 0.834; with 64 px sub-images, 23x a
            # stage-1 step: 0.761 and 0.806). The raw-pixel pitfall: the same short budget for both targets
            extra_steps={"cascade": 60, "pitfall": 86}),
    # steps 400 (was 316): at 316 steps five seeds spread .823-.875 (mean - 3 sd .79, below the floor .80); the worst
    # seed's PCK@0.2, .826 / .874 / .893 after 316 / 395 / 474 steps (1 thread), was still rising; a cosine decay over
    # 316 steps ended far lower (.683): these runs are short of steps, not noisy at the end
    Lecture("02_cpm", "Convolutional Pose Machines: belief maps, stages, receptive field",
            "Wei, Ramakrishna, Kanade & Sheikh, CVPR 2016", model="cpm_tiny", paper_model="cpm",
            codec=_heatmaps(sigma=1.5, background=True, method="dark"), loss=losses.heatmap_loss,
            metric=PCK(0.2), floor=0.80, data=_SINGLE, steps=400, batch_size=32, lr=5e-3, checkpoint_steps=1_200,
            exercise="ex02_cpm"),
    # steps 625 (was 375): at 375 steps five seeds spread .817-.885 PCKh@0.5 (mean - 3 sd .78, below the floor
    # .85); the worst seed's curve, .836 / .882 / .906 / .926 after 375 / 500 / 625 / 750 steps (1 thread), was
    # still rising, and a cosine decay over 375 steps ended lower (.672), as did lr 1e-2 (.784)
    Lecture("03_hourglass", "Stacked Hourglass: multi-scale processing, intermediate supervision",
            "Newell, Yang & Deng, ECCV 2016", model="hourglass_tiny", paper_model="hourglass_8",
            codec=_heatmaps(sigma=1.5, method="quarter"), loss=losses.heatmap_loss, metric=PCKh(0.5), floor=0.85,
            data=_SINGLE, steps=625, batch_size=32, lr=5e-3, checkpoint_steps=2_200, exercise="ex03_hourglass"),
    # BatchNorm in openpose_tiny, limb_width 2 (CMU's code: 1 map px at stride 8), 1,152 steps (was 768): before,
    # 5 seeds spread .230-.484 OKS AP (floor .42), the worst at AP 0 for ~400 steps, its fields lagging its part maps.
    # That seed at 768 steps (1 thread): .371 with width 2, .483 with BatchNorm too; seed 3 .515 / .591 at 768 / 1,152
    Lecture("04_openpose", "OpenPose: Part Affinity Fields and bipartite matching",
            "Cao, Simon, Wei & Sheikh, CVPR 2017", model="openpose_tiny", paper_model="openpose_vgg19",
            codec=PAFCodec(input_size=96, heatmap_size=24, skeleton="coco18", sigma=1.0, limb_width=2.0),
            loss=losses.openpose_loss, metric=OKSAP("coco18"), floor=0.42, steps=1_152, batch_size=16, lr=5e-3,
            data=DataRecipe(image_size=96, skeleton="coco18", num_people=(1, 4), n_val=128), checkpoint_steps=3_000,
            exercise="ex04_openpose"),
    # batch 16: on the same 32,000 images, 2,000 steps of 16 reached PCK@0.2 0.802 where 1,000 of 32 reached
    # 0.692 (seed 0, 2-core CPU), for about the same compute. Steps 3,200 (was 2,779): at 2,779 five seeds spread
    # .868-.924 (mean - 3 sd .84 < floor .85). Seeds 0 / 1 / 3 (1 thread): .893 / .895 / .899 after 2,800 steps,
    # .920 / .920 / .918 after 3,200, .938 / .936 / .935 after 3,600 (short of steps). Seed 3: lr 2e-3 .810, 3e-3
    # .778 at 2,800; the paper's x0.1 drops (81 %, 95 % of 2,779) .829; constant lr 5e-3 dipped to .384 at 2,400
    Lecture("05_hrnet", "HRNet: parallel multi-resolution branches, exchange units",
            "Sun, Xiao, Liu & Wang, CVPR 2019", model="hrnet_tiny", paper_model="hrnet_w32",
            codec=_heatmaps(sigma=1.5, method="dark"), loss=losses.heatmap_loss, metric=PCK(0.2), floor=0.85,
            data=_SINGLE, steps=3_200, batch_size=16, lr=5e-3, checkpoint_steps=9_000, exercise="ex05_hrnet"),
]}


def get_lecture(name: str) -> Lecture:
    """The record of lecture ``name`` ("03_hourglass"; a unique prefix such as "03" works too)."""
    if name in LECTURES:
        return LECTURES[name]
    found = [k for k in LECTURES if k.startswith(str(name))]
    if len(found) != 1:
        raise ValueError(f"lecture: unknown {name!r}; expected one of {', '.join(LECTURES)}")
    return LECTURES[found[0]]
