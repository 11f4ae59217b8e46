"""Shared helpers of the real-format loaders: read JSON / MATLAB files and images with errors
that name the file and the field, and assemble the sample dict of :mod:`posecourse.data`.

Pixel convention of the output (``posecourse.data``): pixel centres at integer coordinates,
0-based. MATLAB-made annotations (MPII, LSP, FLIC) count pixels from 1, so they are shifted
by ``MATLAB_OFFSET = -1``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

MATLAB_OFFSET = -1.0  # 1-based MATLAB pixel indices -> 0-based pixel centres


def check_index(index, length: int) -> int:
    """``index`` as a plain int in ``[0, length)`` (negative indices count from the end), else IndexError."""
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return int(index) % length


def read_json(path) -> object:
    """Parse a JSON file; ``ValueError`` naming the file for unreadable or invalid JSON."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path.name}: invalid JSON ({e})") from None


def read_mat(path) -> dict:
    """Load a MATLAB ``.mat`` (v5) file with structs as attribute objects and singleton dims squeezed."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        return loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f"{path.name}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None


def as_list(x) -> list:
    """A squeezed MATLAB struct array / cell as a Python list (a lone struct -> ``[struct]``, empty -> ``[]``)."""
    if x is None:
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def field(obj, name: str, where: str):
    """``obj[name]`` (dict) or ``obj.name`` (MATLAB struct); ``ValueError`` naming ``where`` and the field."""
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    raise ValueError(f"{where}: missing field {name!r}")


def to_array(value, shape: tuple, where: str, name: str) -> np.ndarray:
    """Convert a field to a float64 array of ``shape`` (``-1`` = any); ``ValueError`` naming it otherwise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {name!r} is not numeric") from None
    ok = arr.ndim == len(shape) and all(s in (-1, n) for s, n in zip(shape, arr.shape))
    if not ok:
        want = "x".join("?" if s == -1 else str(s) for s in shape)
        raise ValueError(f"{where}: {name!r} has shape {'x'.join(map(str, arr.shape)) or 'scalar'}, expected {want}")
    return arr


def load_image(path, expected_hw: tuple[int, int] | None = None, where: str = "") -> torch.Tensor:
    """Read an image with PIL as an RGB ``(3, H, W)`` float tensor in [0, 1].

    ``FileNotFoundError`` names the path when it is missing; ``ValueError`` when the size differs
    from ``expected_hw = (H, W)`` stated by the annotation file.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{where + ': ' if where else ''}image file not found: {path}")
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)
    if expected_hw is not None and tuple(img.shape[1:]) != tuple(int(v) for v in expected_hw):
        raise ValueError(f"{where}: image {path.name} is {img.shape[2]}x{img.shape[1]} (WxH), "
                         f"annotation says {int(expected_hw[1])}x{int(expected_hw[0])}")
    return img


def keypoint_boxes(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Tight ``(P, 4)`` boxes ``(x0, y0, w, h)`` around each person's labelled joints (zeros if none).

    ``keypoints (P, K, 2)``, ``visibility (P, K)``; vectorized over people and joints.
    """
    labelled = (visibility > 0)[..., None] & np.isfinite(keypoints)
    lo = np.where(labelled, keypoints, np.inf).min(axis=1)
    hi = np.where(labelled, keypoints, -np.inf).max(axis=1)
    has = labelled.all(-1).any(axis=1)[:, None]
    lo, hi = np.where(has, lo, 0.0), np.where(has, hi, 0.0)
    return np.concatenate([lo, hi - lo], axis=1)


def make_sample(image, keypoints, visibility, boxes, skeleton: str, meta: dict) -> dict:
    """The sample dict of :mod:`posecourse.data` from numpy arrays ``(P, K, 2)``, ``(P, K)``, ``(P, 4)``.

    Unlabelled joints (visibility 0) get coordinates 0 so that no NaN leaks into batches.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    kp = np.where((vis > 0)[..., None] & np.isfinite(kp), kp, 0.0)
    return {
        "image": image,
        "keypoints": torch.as_tensor(kp, dtype=torch.float32),
        "visibility": torch.as_tensor(vis, dtype=torch.float32),
        "boxes": torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), dtype=torch.float32),
        "skeleton": skeleton,
        "meta": meta,
    }
