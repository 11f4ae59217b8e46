"""A lecture's data: an endless seeded training stream and a fixed held-out set of synthetic images.

Training images come from the generator seeded with ``seed`` (index ``i`` is image ``i``, so every step sees new
images); the held-out images come from a *fixed* seed (:data:`VAL_SEED`) that training never uses, so metrics of
different runs and of different lectures' models are comparable."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..params import as_int, as_optional_int
from ..skeletons import convert_keypoints
from . import collate
from .synthetic import SyntheticPoseDataset

__all__ = ["DataRecipe", "Data", "VAL_SEED", "make_data", "Collate"]

VAL_SEED = 10_007  # the held-out stream; training seeds never reach it


@dataclass(frozen=True)
class DataRecipe:
    """What the synthetic generator draws for a lecture. ``skeleton``: the layout the model predicts; COCO-18
    (OpenPose's, with a neck) is generated as COCO-17 and converted. ``generator``: extra
    :class:`~posecourse.data.synthetic.SyntheticPoseDataset` arguments (e.g. ``scale_range``). ``n_val``:
    held-out images."""

    image_size: int = 64
    skeleton: str = "mpii16"
    num_people: int | tuple[int, int] = 1
    n_val: int = 256
    generator: dict = field(default_factory=dict)

    @property
    def source_skeleton(self) -> str:
        return "coco17" if self.skeleton in ("coco17", "coco18") else self.skeleton


@dataclass
class Data:
    """``train``: a DataLoader over the endless synthetic stream; ``val``: the collated held-out batch dict."""

    train: torch.utils.data.DataLoader
    val: dict
    skeleton: str


@dataclass(frozen=True)
class Collate:
    """``collate``, then the joints converted to ``skeleton`` (e.g. COCO-17 -> OpenPose's COCO-18; a class,
    not a lambda: DataLoader workers pickle it)."""

    skeleton: str

    def __call__(self, samples):
        b = collate(samples)
        if b["skeleton"] == self.skeleton:
            return b
        kp, vis = convert_keypoints(b["keypoints"], b["visibility"], b["skeleton"], self.skeleton)
        return {**b, "keypoints": torch.as_tensor(kp, dtype=torch.float32),
                "visibility": torch.as_tensor(vis, dtype=torch.float32), "skeleton": self.skeleton}


#: the largest held-out set make_data renders (it is drawn into memory at once: 64 x 64 images, ~50 kB each)
MAX_VAL = 100_000


def make_data(recipe: DataRecipe, batch_size: int, seed: int = 0, n_val: int | None = None,
              train_length: int = 10_000_000) -> Data:
    """Training stream (seeded by ``seed``, batches of ``batch_size``) and held-out set (:data:`VAL_SEED`)."""
    train_length = as_int("train_length", train_length, minimum=1)
    batch_size = as_int("batch_size", batch_size, minimum=1, maximum=train_length)
    # 0 is refused, never read as "the recipe's"; the held-out set is rendered into memory at once
    n_val = as_optional_int("n_val", n_val, minimum=1, maximum=MAX_VAL)
    kw = dict(image_size=recipe.image_size, num_people=recipe.num_people, skeleton=recipe.source_skeleton,
              **recipe.generator)
    train_set = SyntheticPoseDataset(train_length, seed=seed, **kw)
    val_set = SyntheticPoseDataset(recipe.n_val if n_val is None else n_val, seed=VAL_SEED, **kw)
    conv = Collate(recipe.skeleton)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=False, collate_fn=conv,
                                         num_workers=0)
    return Data(loader, conv([val_set[i] for i in range(len(val_set))]), recipe.skeleton)
