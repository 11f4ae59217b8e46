"""Shared helpers of the real-format loaders: read JSON / MATLAB files and images with errors
that name the file and the field, and assemble the sample dict of :mod:`posecourse.data`.

Pixel convention of the output (``posecourse.data``): pixel centres at integer coordinates, 0-based. MATLAB-made
annotations (MPII, LSP, FLIC) count pixels from 1, so they are shifted by ``MATLAB_OFFSET = -1``."""
from __future__ import annotations

import json
import numbers
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.io import loadmat

MATLAB_OFFSET = -1.0  # 1-based MATLAB pixel indices -> 0-based pixel centres
#: Labelled joints of formats whose people may be cut by the frame (MPII, LSP, FLIC) may lie outside the
#: image, up to this many image sizes beyond each side; farther ones are rejected as corrupt.
FRAME_MARGIN = 1.0


def check_index(index, length: int) -> int:
    """``index`` as a plain int in ``[0, length)`` (negative indices count from the end), else IndexError;
    TypeError (Python's sequence convention) for an index that is not an integer."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"index must be an integer, got {type(index).__name__} {index!r}")
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return int(index) % length


def _annotation_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    return path


def read_json(path) -> object:
    """Parse a JSON file; ``FileNotFoundError`` / ``ValueError`` naming the file if missing or not valid JSON."""
    path = _annotation_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        raise ValueError(f"{path.name}: invalid JSON ({why})") from None


def read_mat(path) -> dict:
    """Load a MATLAB ``.mat`` (v5) file with structs as attribute objects and singleton dims squeezed; errors
    as :func:`read_json`'s."""
    path = _annotation_file(path)
    try:
        return loadmat(path, squeeze_me=True, struct_as_record=False)
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f"{path.name}: not a readable MATLAB .mat file ({type(e).__name__}: {e})") from None


def as_list(x) -> list:
    """A squeezed MATLAB struct array / cell as a Python list (a lone struct -> ``[struct]``, empty -> ``[]``)."""
    return [] if x is None else list(x.ravel()) if isinstance(x, np.ndarray) else [x]


def field(obj, name: str, where: str):
    """``obj[name]`` (dict) or ``obj.name`` (MATLAB struct); ``ValueError`` naming ``where`` and the field."""
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
    elif hasattr(obj, name):
        return getattr(obj, name)
    raise ValueError(f"{where}: missing field {name!r}")


def file_field(obj, name: str, where: str) -> str:
    """:func:`field` that must be a non-empty file name string."""
    value = field(obj, name, where)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {name!r} is {_short(value)}, expected a file name")
    return value


_NUMBER_TYPES = (int, float, np.integer, np.floating, np.bool_, type(None))


def numeric(value, where: str, name: str) -> np.ndarray:
    """``value`` (nested lists / an array) as float64; ``null`` -> NaN, booleans -> 1 / 0. ``ValueError`` naming
    ``where`` and the field for text, nested objects, ragged rows or numbers beyond float range (these would
    otherwise turn silently into numbers or fail later)."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{where}: {name!r} is not a regular array of numbers (ragged or nested rows)") from None
    if arr.dtype == object:
        for v in arr.ravel():
            if not isinstance(v, _NUMBER_TYPES):
                raise ValueError(f"{where}: {name!r} holds {type(v).__name__} {_short(v)}, expected numbers")
    elif arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {name!r} is not numeric ({_short(value)})")
    try:
        return arr.astype(np.float64)
    except (OverflowError, TypeError, ValueError):
        raise ValueError(f"{where}: {name!r} holds a number beyond the float range") from None


def _short(v) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def to_array(value, shape: tuple, where: str, name: str) -> np.ndarray:
    """Convert a field to a float64 array of ``shape`` (``-1`` = any); ``ValueError`` naming it otherwise."""
    arr = numeric(value, where, name)
    if not (arr.ndim == len(shape) and all(s in (-1, n) for s, n in zip(shape, arr.shape))):
        want = "x".join("?" if s == -1 else str(s) for s in shape)
        raise ValueError(f"{where}: {name!r} has shape {'x'.join(map(str, arr.shape)) or 'scalar'}, expected {want}")
    return arr


def finite(value, where: str, name: str, positive: bool = False) -> np.ndarray:
    """A numeric field that must be finite (and > 0 with ``positive``); ``ValueError`` naming it otherwise."""
    arr = np.asarray(value, dtype=np.float64)
    if not np.isfinite(arr).all() or (positive and not (arr > 0).all()):
        want = "finite and > 0" if positive else "finite"
        raise ValueError(f"{where}: {name!r} is {_short(arr.tolist())}, expected {want}")
    return arr


def check_flags(values: np.ndarray, allowed: tuple, record, name: str, names=None,
                what: str = "visibility flags", item: str = "joint") -> None:
    """Every entry of ``values (N, K)`` in ``allowed``, else ``ValueError`` naming record, field and joint;
    ``record``: ``n -> str`` naming the n-th record (file and record); ``what`` / ``item`` word the message."""
    bad = ~np.isin(values, allowed)
    if bad.any():
        n, k = np.argwhere(bad)[0]
        raise ValueError(f"{record(int(n))}: {name!r} {what} must be {', '.join(map(str, allowed))}; "
                         f"{_joint(k, names, item)} has {float(values[n, k]):g}")


def _joint(k, names, item: str = "joint") -> str:
    return f"{item} {int(k)} ({names[k]})" if names is not None and k < len(names) else f"{item} {int(k)}"


def check_joints(keypoints: np.ndarray, labelled: np.ndarray, record, name: str, names=None,
                 lo=None, hi=None) -> None:
    """Labelled joints must have finite coordinates inside ``[lo, hi]``, else ``ValueError``; unlabelled ones
    are not checked. ``keypoints (N, K, 2)``, ``labelled (N, K)`` bool, ``lo`` / ``hi`` ``(N, 2)`` or ``(2,)``
    (x, y) bounds (``None``: unbounded); ``record``: ``n -> str`` naming the n-th record."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(np.shape(labelled) + (2,))
    lo = np.broadcast_to(np.asarray(-np.inf if lo is None else lo, np.float64), (len(kp), 2))
    hi = np.broadcast_to(np.asarray(np.inf if hi is None else hi, np.float64), (len(kp), 2))
    lab = np.asarray(labelled, dtype=bool)[..., None]
    nonfinite = lab & ~np.isfinite(kp)
    outside = lab & ((kp < lo[:, None]) | (kp > hi[:, None]))
    for bad, problem in ((nonfinite, "not a finite number"), (outside, "outside the allowed range")):
        if bad.any():
            n, k, c = np.argwhere(bad)[0]
            if bad is outside:
                problem += f" [{lo[n, c]:g}, {hi[n, c]:g}]"
            raise ValueError(f"{record(int(n))}: {name!r} {_joint(k, names)} is labelled but its "
                             f"{'xy'[c]} = {float(kp[n, k, c])!r} is {problem}")


def frame_bounds(height, width, margin: float = FRAME_MARGIN, pad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)`` (x, y) bounds ``(..., 2)`` of images of ``height x width`` in the course frame
    (pixel centres at integers: the image covers ``[-0.5, W - 0.5]``), widened by ``margin`` image
    sizes and ``pad`` pixels on each side."""
    size = np.stack([np.asarray(width, np.float64), np.asarray(height, np.float64)], axis=-1)
    extra = margin * size + pad if margin else np.full_like(size, pad)  # margin 0: no 0 * inf for unknown sizes
    return -0.5 - extra, size - 0.5 + extra


def load_image(path, expected_hw: tuple[int, int] | None = None, where: str = "") -> torch.Tensor:
    """Read an image with PIL as an RGB ``(3, H, W)`` float tensor in [0, 1]. ``FileNotFoundError`` if it is
    missing, ``ValueError`` if it is not a readable image (truncated, corrupt) or its size differs from the
    annotation's ``expected_hw = (H, W)``; each names the path."""
    path = Path(path)
    prefix = where + ": " if where else ""
    if not path.is_file():
        raise FileNotFoundError(f"{prefix}image file not found: {path}")
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # PIL: truncated/corrupt files
        raise ValueError(f"{prefix}image {path} is not a readable image ({type(e).__name__}: {e})") from None
    img = torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)
    if expected_hw is not None and tuple(img.shape[1:]) != tuple(int(v) for v in expected_hw):
        raise ValueError(f"{where}: image {path.name} is {img.shape[2]}x{img.shape[1]} (WxH), "
                         f"annotation says {int(expected_hw[1])}x{int(expected_hw[0])}")
    return img


def keypoint_boxes(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Tight ``(P, 4)`` boxes ``(x0, y0, w, h)`` around each person's labelled joints (zeros if none), from
    ``keypoints (P, K, 2)`` and ``visibility (P, K)``."""
    labelled = (visibility > 0)[..., None] & np.isfinite(keypoints)
    lo = np.where(labelled, keypoints, np.inf).min(axis=1)
    hi = np.where(labelled, keypoints, -np.inf).max(axis=1)
    has = labelled.all(-1).any(axis=1)[:, None]
    lo, hi = np.where(has, lo, 0.0), np.where(has, hi, 0.0)
    return np.concatenate([lo, hi - lo], axis=1)


def make_sample(image, keypoints, visibility, boxes, skeleton: str, meta: dict, *, where: str = "",
                margin: float | None = FRAME_MARGIN, names=None) -> dict:
    """The sample dict of :mod:`posecourse.data` from numpy arrays ``(P, K, 2)``, ``(P, K)``, ``(P, 4)``.
    Unlabelled joints (visibility 0) get coordinates 0 so that no NaN leaks into batches. A labelled joint must
    be finite and, unless ``margin`` is None, inside the image widened by ``margin`` image sizes
    (:data:`FRAME_MARGIN`), and boxes finite in float32; else ``ValueError`` naming ``where``. ``where`` (the file
    and the record) is kept as ``meta["where"]``, for errors met later (a crop's box, :class:`~.topdown.TopDown`)."""
    kp, vis = (np.asarray(v, dtype=np.float64) for v in (keypoints, visibility))
    labelled = vis > 0
    lo, hi = frame_bounds(image.shape[-2], image.shape[-1], margin) if margin is not None else (None, None)
    check_joints(kp, labelled, lambda p: f"{where} (person {p})" if len(kp) > 1 else where, "keypoints",
                 names, lo, hi)
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), dtype=torch.float32)
    if not torch.isfinite(boxes).all():
        raise ValueError(f"{where}: person box {boxes.tolist()} is beyond float32's range (a far centre, a huge scale)")
    if where:
        meta = {**meta, "where": where}
    return {"image": image, "keypoints": torch.as_tensor(np.where(labelled[..., None], kp, 0.0), dtype=torch.float32),
            "visibility": torch.as_tensor(vis, dtype=torch.float32), "boxes": boxes, "skeleton": skeleton, "meta": meta}
