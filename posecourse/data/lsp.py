"""Leeds Sports Pose (LSP) and LSP-extended ``joints.mat``.

Layouts (from the datasets' READMEs): LSP's ``joints`` is ``3 x 14 x 2000`` (x, y, flag per
joint per image), LSP-extended's is ``14 x 3 x 10000``. Joint order = ``skeletons.LSP14``. Images
are ``im0001.jpg`` ... (4 digits for LSP, 5 for LSP-extended), numbered from 1.

The flag. Both READMEs call it a visibility flag, but the two releases use it oppositely: in LSP (3 x 14 x N) it is 1
for an *occluded* joint (every joint is labelled, occluded ones at a guessed position), in LSP-extended (14 x 3 x N)
it is 1 for a *visible* (= annotated) joint, the others being unlabelled. This is the community reading, not stated in
the READMEs; override it with ``flag_means``. Mapping: LSP flag 0 -> 2, 1 -> 1; LSP-extended flag 1 -> 2, 0 -> 0.

Coordinates are MATLAB 1-based pixel positions; we return 0-based (``- 1``). The box is the tight box around the
labelled joints. ``split="train"/"test"`` applies LSP's protocol (first / last 1000 images); LSP-extended is all
training data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..params import one_of
from ..skeletons import LSP14
from ._io import (MATLAB_OFFSET, check_flags, check_index, check_joints, field, keypoint_boxes, load_image, make_sample,
                  numeric, read_mat)

__all__ = ["LspJoints"]

K = LSP14.num_joints


class LspJoints(Dataset):
    """LSP / LSP-extended ``joints.mat`` (``mat_file``, holding the array ``joints``; images in ``img_dir``, the
    ``images/`` folder) as a Dataset of single-person samples (``P = 1``). ``split``: ``"all"``, ``"train"`` (images
    1..1000) or ``"test"`` (1001..2000), LSP only; ``flag_means``: ``"occluded"`` or ``"visible"``, default by layout
    (see the module note); ``name_format``: image file name from the 1-based number, default ``im{:04d}.jpg`` (LSP) or
    ``im{:05d}.jpg`` (LSP-extended). ``meta``: ``source`` ("lsp"), ``index``, ``file_name``, ``image_number``
    (1-based), ``flag`` (K,)."""

    skeleton = LSP14.name  #: the layout of every sample (an empty file has none to ask)

    def __init__(self, mat_file, img_dir, *, split: str = "all", flag_means: str | None = None,
                 name_format: str | None = None):
        one_of("split", split, ("all", "train", "test"))
        self.mat_file, self.img_dir = Path(mat_file), Path(img_dir)
        name = self.mat_file.name
        joints = numeric(field(read_mat(self.mat_file), "joints", name), name, "joints")
        if joints.ndim == 2:  # a single image squeezed by loadmat
            joints = joints[..., None]
        if joints.ndim != 3 or joints.shape[:2] not in ((3, K), (K, 3)):
            raise ValueError(f"{name}: 'joints' has shape {'x'.join(map(str, joints.shape))}, "
                             f"expected 3x{K}xN (LSP) or {K}x3xN (LSP-extended)")
        self.extended = extended = joints.shape[:2] == (K, 3)
        arr = joints.transpose(2, 0, 1) if extended else joints.transpose(2, 1, 0)  # (N, K, 3)
        flag_means = one_of("flag_means", ("visible" if extended else "occluded") if flag_means is None else flag_means,
                            ("visible", "occluded"))
        flag = arr[..., 2]
        record = lambda n: f"{name}: image {n + 1}"
        check_flags(flag, (0, 1), record, "joints", LSP14.joints)
        vis = np.where(flag > 0, 1.0, 2.0) if flag_means == "occluded" else np.where(flag > 0, 2.0, 0.0)
        check_joints(arr[..., :2], vis > 0, record, "joints", LSP14.joints)
        numbers = np.arange(1, arr.shape[0] + 1)
        if split != "all":
            if extended:
                raise ValueError("split: LSP-extended has no train/test split; use split='all'")
            keep = numbers <= 1000 if split == "train" else numbers > 1000
            arr, vis, flag, numbers = arr[keep], vis[keep], flag[keep], numbers[keep]
        self.name_format = name_format or ("im{:05d}.jpg" if extended else "im{:04d}.jpg")
        try:
            if not isinstance(self.name_format, str) or self.name_format.format(1) == self.name_format:
                raise ValueError
        except (ValueError, KeyError, IndexError, AttributeError, TypeError):
            raise ValueError(f"name_format: expected a format string with one number field such as "
                             f"'im{{:04d}}.jpg', got {name_format!r}") from None
        self.keypoints = arr[..., :2] + MATLAB_OFFSET  # (N, K, 2) 0-based
        self.visibility, self.flag, self.numbers = vis, flag, numbers  # (N, K), (N, K) as stored, (N,) 1-based
        self.boxes = keypoint_boxes(self.keypoints, self.visibility)  # (N, 4)

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, len(self))
        n = int(self.numbers[index])
        file_name = self.name_format.format(n)
        where = f"{self.mat_file.name}: image {n}"
        image = load_image(self.img_dir / file_name, where=where)
        meta = {"source": "lsp", "index": int(index), "file_name": file_name, "image_number": n,
                "flag": self.flag[index].copy(), "extended": self.extended}
        return make_sample(image, self.keypoints[index][None], self.visibility[index][None],
                           self.boxes[index][None], self.skeleton, meta, where=where, names=LSP14.joints)
