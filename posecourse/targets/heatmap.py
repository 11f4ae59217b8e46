"""Gaussian belief maps (CPM, Hourglass, HRNet) and their decoders.

Coordinate convention (centre-aligned, the same as ``align_corners=False`` resizing): a heatmap of
stride ``s`` (image px per heatmap px) sees image point ``x`` at

    x_hm = (x + 0.5) / s - 0.5        and back        x = (x_hm + 0.5) * s - 0.5

so heatmap pixel centres sit at integer ``x_hm`` and a horizontal flip of the image
(``x' = W_img - 1 - x``) is exactly a flip of the heatmap (``x_hm' = W - 1 - x_hm``).
HRNet's code instead puts the centre at the integer ``int(x / s + 0.5)`` (``int`` truncates towards
zero); ``quantize=True`` reproduces that (biased) target, which is why its flip test needs a 1 px shift.

Gaussian forms (``convention``): ``"hrnet"`` is ``exp(-d^2 / (2 sigma^2))`` (HRNet / Hourglass code, and CPM's
released ``putGaussianMaps``, on our centre-aligned grid with ``sigma_hm = sigma_img / stride``); ``"cpm"`` is the
narrower ``exp(-d^2 / sigma^2)`` (width ``sigma / sqrt(2)``) the OpenPose paper writes (Cao et al. 2017): only a
label (codecs, lecture records and tests use it), *not* CPM's form (the CPM paper gives no formula). Unlike those
codes (pinned by tests) our Gaussians are not truncated (HRNet cuts them to a ``6 sigma + 1`` window, CPM zeroes
values below 0.01), so the tails are small but non-zero.

Decoders and the code they name (tests compare them with oracles written from that code):
argmax = HRNet ``get_max_preds`` / MMPose ``get_heatmap_maximum`` (first maximum in raster order);
``quarter_rule="hrnet"`` / ``"mmpose"`` = HRNet ``get_final_preds`` / MMPose ``refine_keypoints``;
``method="dark"`` = DARK's ``get_final_preds`` (``taylor`` + ``gaussian_blur``) = MMPose
``refine_keypoints_dark``. The differences from those codes that remain are listed in :func:`decode` and
:func:`encode` (each pinned by a test in ``tests/targets/test_targets_heatmap.py``).
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

__all__ = ["to_heatmap", "to_image", "encode", "decode", "flip_test", "cv2_gaussian_kernel"]


def to_heatmap(points: torch.Tensor, stride: float) -> torch.Tensor:
    """Image px -> heatmap px (centre-aligned): ``(p + 0.5) / stride - 0.5``."""
    return (points + 0.5) / stride - 0.5


def to_image(points: torch.Tensor, stride: float) -> torch.Tensor:
    """Heatmap px -> image px: ``(p + 0.5) * stride - 0.5``."""
    return (points + 0.5) * stride - 0.5


def _people(keypoints, visibility) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and lift to ``(B, P, K, 2)`` / ``(B, P, K)``."""
    kp = _tensor(keypoints, "keypoints")
    kp = kp.float() if not torch.is_floating_point(kp) else kp
    vis = _tensor(visibility, "visibility").to(kp.device)
    if vis.is_floating_point() and torch.isnan(vis).any():
        raise ValueError("visibility: contains NaN (expected 0 = unlabelled, > 0 = labelled)")
    if kp.dim() == 3:
        kp = kp.unsqueeze(1)
        vis = vis.unsqueeze(1) if vis.dim() == 2 else vis
    if kp.dim() != 4 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints: expected (B, P, K, 2) or (B, K, 2), got {tuple(torch.as_tensor(keypoints).shape)}")
    if tuple(vis.shape) != tuple(kp.shape[:-1]):
        raise ValueError(f"visibility: expected shape {tuple(kp.shape[:-1])}, got {tuple(vis.shape)}")
    labelled = vis > 0
    if not torch.isfinite(kp[labelled]).all():
        raise ValueError("keypoints: NaN/inf coordinates on a labelled joint (visibility > 0)")
    return torch.where(labelled.unsqueeze(-1), kp, torch.zeros_like(kp)), labelled


def _check_positive(value, name) -> float:
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


def encode(keypoints, visibility, heatmap_size, stride: float = 4.0, sigma: float = 2.0,
           convention: str = "hrnet", background: bool = False, combine: str = "max",
           quantize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian belief maps ``S*_j`` at sub-pixel joint centres, one channel per joint.

    Args:
        keypoints: ``(B, P, K, 2)`` image px (or ``(B, K, 2)`` for one person).
        visibility: ``(B, P, K)`` (or ``(B, K)``); ``> 0`` means labelled.
        heatmap_size: ``(H, W)``.
        stride: image px per heatmap px.
        sigma: Gaussian width in heatmap px.
        convention: ``"hrnet"`` (``exp(-d^2/2sigma^2)``, also CPM's released code) or ``"cpm"``
            (``exp(-d^2/sigma^2)``: a label, not CPM's code's form; see the module docstring).
        background: append CPM's background channel ``1 - max_j S*_j`` (so ``C = K + 1``).
        combine: people -> one map per joint: ``"max"`` (``S*_j = max_k S*_{j,k}``, OpenPose/CPM) or
            ``"mean"`` over the labelled people (the pitfall: nearby peaks blur into one bump).
        quantize: round centres like HRNet's code, ``int(x / stride + 0.5)`` (truncation towards zero,
            so a point just left of the map, ``-1 < x / stride + 0.5 < 0``, lands on column 0).
    Returns:
        ``heatmaps (B, C, H, W)`` and ``weights (B, C)``: 1 where at least one person has the joint
        labelled and its Gaussian reaches the map, else 0 (the loss mask W(p), per channel; the
        background channel always weighs 1). Multiply by ``weights[..., None, None]`` for per-pixel.

    Difference from HRNet's ``JointsDataset.generate_target`` (with ``quantize=True``, its centres): a
    joint counts when its ``3 sigma`` window reaches the map, ``-1 - 3 sigma < mu < size + 3 sigma``.
    HRNet tests its window's far corner ``br = int(mu + 3 sigma + 1) < 0``, and ``int`` truncates towards
    zero, so for a centre just left of or above the map, ``-2 - 3 sigma < mu <= -1 - 3 sigma`` (``mu = -7``
    at ``sigma = 2``), it keeps weight 1 while its window -- and target -- holds no map pixel (the joint is
    trained towards an empty map); we give it weight 0. The right/bottom sides agree.
    """
    kp, labelled = _people(keypoints, visibility)
    H, W = (int(v) for v in heatmap_size)
    if H <= 0 or W <= 0:
        raise ValueError(f"heatmap_size: expected positive (H, W), got {heatmap_size!r}")
    _check_positive(stride, "stride")
    _check_positive(sigma, "sigma")
    if convention not in ("hrnet", "cpm"):
        raise ValueError(f"convention: expected 'hrnet' or 'cpm', got {convention!r}")
    if combine not in ("max", "mean"):
        raise ValueError(f"combine: expected 'max' or 'mean', got {combine!r}")
    need = kp.shape[0] * max(kp.shape[1], 1) * kp.shape[2] * H * W * kp.element_size()
    if need > 2 ** 34:
        raise ValueError(f"heatmap_size: {(H, W)} maps for {tuple(kp.shape[:3])} (B, P, K) people/joints would "
                         f"need {need / 2 ** 30:.0f} GiB")
    mu = torch.trunc(kp / stride + 0.5) if quantize else to_heatmap(kp, stride)   # (B, P, K, 2)
    denom = (2.0 if convention == "hrnet" else 1.0) * sigma ** 2
    xs = torch.arange(W, device=kp.device, dtype=kp.dtype)
    ys = torch.arange(H, device=kp.device, dtype=kp.dtype)
    # separable Gaussian: exp(-(dx^2 + dy^2)/c) = exp(-dx^2/c) * exp(-dy^2/c), all joints/people at once
    gx = torch.exp(-(xs - mu[..., 0:1]) ** 2 / denom)                            # (B, P, K, W)
    gy = torch.exp(-(ys - mu[..., 1:2]) ** 2 / denom) * labelled.unsqueeze(-1)  # (B, P, K, H)
    g = gy.unsqueeze(-1) * gx.unsqueeze(-2)                                      # (B, P, K, H, W)
    if combine == "max":
        hm = g.amax(dim=1) if g.shape[1] else g.new_zeros(g.shape[0], g.shape[2], H, W)
    else:
        hm = g.sum(dim=1) / labelled.sum(dim=1).clamp(min=1)[..., None, None]
    # a joint counts if labelled and its 3-sigma window touches the map (as HRNet drops off-map joints)
    reach = 3 * sigma
    inside = ((mu > -1 - reach) & (mu < torch.tensor([W, H], device=mu.device) + reach)).all(-1)
    weights = (labelled & inside).any(dim=1).to(hm.dtype)                        # (B, K)
    if background:
        bg = 1 - (hm.amax(dim=1, keepdim=True) if hm.shape[1] else hm.new_zeros(hm.shape[0], 1, H, W))
        hm = torch.cat([hm, bg], dim=1)
        weights = torch.cat([weights, weights.new_ones(weights.shape[0], 1)], dim=1)
    return hm, weights


def _tensor(x, name: str) -> torch.Tensor:
    """A real-valued tensor of ``x`` (tensor, array, nested lists), else a ``ValueError`` naming ``name``."""
    try:
        t = torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{name}: expected a real-valued tensor or array, got {type(x).__name__} ({e})") from None
    if t.is_complex() or t.dtype == torch.bool and name != "visibility":
        raise ValueError(f"{name}: expected a real-valued tensor, got dtype {t.dtype}")
    return t


def _check_heatmaps(heatmaps) -> torch.Tensor:
    hm = _tensor(heatmaps, "heatmaps")
    if hm.dim() != 4:
        raise ValueError(f"heatmaps: expected (B, K, H, W), got {tuple(hm.shape)}")
    if hm.shape[-1] == 0 or hm.shape[-2] == 0:
        raise ValueError(f"heatmaps: empty maps (H, W) = {tuple(hm.shape[-2:])}")
    if not torch.is_floating_point(hm) or hm.dtype in (torch.float16, torch.bfloat16):
        hm = hm.float()  # half precision decodes in float32: log(1e-10) and the DARK Hessian underflow in fp16
    if not torch.isfinite(hm).all():
        raise ValueError("heatmaps: contain NaN/inf")
    return hm


def _argmax(hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K, H, W)`` -> integer ``(x, y)`` as float ``(B, K, 2)`` and maxima ``(B, K)``.

    Ties go to the first maximum in raster order (as ``np.argmax`` in HRNet and MMPose). A map whose
    maximum is ``<= 0`` keeps its argmax location (HRNet: ``(0, 0)``, MMPose: ``(-1, -1)``).
    """
    W = hm.shape[-1]
    scores, idx = hm.flatten(2).max(dim=-1)
    return torch.stack([idx % W, idx // W], dim=-1).to(hm.dtype), scores


def _gather(maps: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``maps (B, K, H, W)`` at integer ``x, y (B, K)`` (clamped to the map)."""
    H, W = maps.shape[-2:]
    idx = y.long().clamp(0, H - 1) * W + x.long().clamp(0, W - 1)
    return maps.flatten(2).gather(-1, idx.unsqueeze(-1)).squeeze(-1)


def _quarter(hm, xy, rule):
    """argmax + 0.25 px towards the higher neighbour (``sign`` of the difference; a tie moves nothing).

    Boundary rule ``"course"`` (default): each axis shifts whenever both of its neighbours exist
    (``0 < x < W - 1``), independently of the other axis. ``"hrnet"`` copies HRNet's
    ``get_final_preds``: shift only when ``1 < x < W - 1 and 1 < y < H - 1`` (both axes at once;
    the ``1 <`` is a Matlab-era off-by-one). ``"mmpose"`` copies MMPose's ``refine_keypoints``:
    x shifts when ``1 < x < W - 1 and 0 < y < H``, y when ``1 < y < H - 1 and 0 < x < W`` (so a peak
    in row 0 keeps its x, one in column 0 its y). The three differ only for a peak on the two
    outermost rows/columns of the map.
    """
    H, W = hm.shape[-2:]
    x, y = xy[..., 0], xy[..., 1]
    dx = _gather(hm, x + 1, y) - _gather(hm, x - 1, y)
    dy = _gather(hm, x, y + 1) - _gather(hm, x, y - 1)
    if rule == "course":
        ok_x, ok_y = (x > 0) & (x < W - 1), (y > 0) & (y < H - 1)
    elif rule == "mmpose":
        ok_x = (x > 1) & (x < W - 1) & (y > 0) & (y < H)
        ok_y = (y > 1) & (y < H - 1) & (x > 0) & (x < W)
    elif rule == "hrnet":
        ok_x = ok_y = (x > 1) & (x < W - 1) & (y > 1) & (y < H - 1)
    else:
        raise ValueError(f"quarter_rule: expected 'course', 'mmpose' or 'hrnet', got {rule!r}")
    return xy + 0.25 * torch.stack([torch.sign(dx) * ok_x, torch.sign(dy) * ok_y], dim=-1)


# cv2.getGaussianKernel's fixed kernels for odd sizes <= 7 when sigma <= 0 (OpenCV's small_gaussian_tab)
_CV2_SMALL = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
              7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]}


def cv2_gaussian_kernel(size: int, dtype=torch.float64) -> torch.Tensor:
    """``cv2.getGaussianKernel(size, 0)``: the fixed binomial-like kernel for ``size <= 7``, else the
    normalized Gaussian with ``sigma = 0.3 ((size - 1) / 2 - 1) + 0.8``; ``(size,)``."""
    if size in _CV2_SMALL:
        return torch.tensor(_CV2_SMALL[size], dtype=dtype)
    s = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-t ** 2 / (2 * s ** 2))
    return (k / k.sum()).to(dtype)


def _blur(hm: torch.Tensor, kernel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """DARK's ``gaussian_blur``: zero-pad by ``kernel // 2``, ``cv2.GaussianBlur(., (kernel, kernel), 0)``,
    rescale each map so its maximum is the original one. Returns the maps and a ``(B, K)`` mask of
    maps that could be rescaled (blurred maximum != 0; DARK's code divides by zero there)."""
    k1 = cv2_gaussian_kernel(kernel).to(hm)
    B, K, H, W = hm.shape
    p = kernel // 2
    x = F.conv2d(F.pad(hm.reshape(B * K, 1, H, W), (p, p, p, p)), k1.view(1, 1, 1, -1))
    x = F.conv2d(x, k1.view(1, 1, -1, 1)).reshape(B, K, H, W)
    peak, new = hm.flatten(2).amax(-1), x.flatten(2).amax(-1)
    ok = new != 0
    return x * torch.where(ok, peak / torch.where(ok, new, 1), 1)[..., None, None], ok


def _dark(hm, xy, kernel):
    """DARK (Zhang et al., CVPR 2020, "Distribution-Aware Coordinate Representation"), as its code
    (ilovepose/DarkPose ``taylor``, = MMPose ``refine_keypoints_dark``): blur (:func:`_blur`), take
    ``log(max(h, 1e-10))``, then at the argmax ``offset = -Hessian^{-1} gradient`` with
    ``dx = (L[x+1] - L[x-1]) / 2``, ``dxx = (L[x+2] - 2 L[x] + L[x-2]) / 4`` (step 2, as the code),
    ``dxy = (L[x+1,y+1] - L[x+1,y-1] - L[x-1,y+1] + L[x-1,y-1]) / 4``; applied whenever
    ``det != 0`` and only for ``1 < x < W - 2 and 1 < y < H - 2`` (peaks nearer the border stay
    integer). ``kernel=0`` skips the blur (our option; DARK always blurs). An all-zero map is left
    unrefined where DARK's code returns NaN. The offset is not bounded, as in the code.
    """
    H, W = hm.shape[-2:]
    ok_blur = torch.ones(hm.shape[:2], dtype=torch.bool, device=hm.device)
    if kernel:
        hm, ok_blur = _blur(hm, kernel)
    L = torch.log(hm.clamp(min=1e-10))
    x, y = xy[..., 0], xy[..., 1]
    at = lambda ox, oy: _gather(L, x + ox, y + oy)  # noqa: E731 (clamped; only used inside the window)
    c = at(0, 0)
    gx, gy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
    hxx, hyy = 0.25 * (at(2, 0) - 2 * c + at(-2, 0)), 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy ** 2
    ok = (det != 0) & ok_blur & (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)
    det = torch.where(ok, det, torch.ones_like(det))
    ox = -(hyy * gx - hxy * gy) / det
    oy = -(hxx * gy - hxy * gx) / det
    return xy + torch.where(ok.unsqueeze(-1), torch.stack([ox, oy], dim=-1), torch.zeros_like(xy))


def decode(heatmaps, stride: float = 1.0, method: str = "quarter", temperature: float = 1.0,
           dark_kernel: int = 11, quarter_rule: str = "course") -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps -> joint coordinates in image px (``stride=1`` gives heatmap px).

    Args:
        heatmaps: ``(B, K, H, W)`` (drop a background channel first).
        method: ``"argmax"`` (integer), ``"quarter"`` (the default: argmax + 0.25 px towards the
            higher neighbour, with the ``"course"`` boundary rule unless ``quarter_rule`` says
            ``"hrnet"`` or ``"mmpose"``), ``"dark"`` (DARK's Taylor refinement of the blurred
            log-heatmap; ``dark_kernel`` odd, 11 as DARK's config for sigma 2, ``0`` skips the blur,
            which leaves the unbounded Taylor step exposed to noise), ``"soft_argmax"`` (expectation
            under ``softmax(log(h) / temperature)`` = ``h^(1/T)`` normalized; ``T = 1`` is the centroid).
            We take the softmax of the *log* map: ``softmax(h / T)`` on a raw belief map in [0, 1]
            gives the flat background so much mass that it pulls every estimate towards the map
            centre (0.3 px on a 32 x 48 map at ``T = 0.1``), while a small ``T`` collapses to argmax.
    Returns:
        ``coords (B, K, 2)`` image px and ``scores (B, K)`` (the heatmap maxima), float32 for float32 or
        half-precision maps (half precision is decoded in float32: the same answer as its float32 copy),
        float64 for float64 maps.

    Differences from the official decoders (HRNet ``get_final_preds``, DarkPose, MMPose) that remain:

    - A map whose maximum is ``<= 0`` gets its argmax location (the first maximum, refined like any
      other) and its score ``<= 0``; HRNet's ``get_max_preds`` returns ``(0, 0)`` there and MMPose's
      ``get_heatmap_maximum`` ``(-1, -1)``. Mask by ``scores`` to drop such joints.
    - DARK where the blurred log-map's Hessian is near-singular (a flat or ridge-shaped top, more likely
      with a wide ``dark_kernel`` on a small map): the Taylor step ``-H^{-1} g`` is ill-conditioned, so
      its result depends on the arithmetic. We follow DarkPose (step whenever ``det != 0``, unbounded) in
      the map's precision (float64 maps in float64, others in float32); MMPose blurs in float32 with
      OpenCV, so there the two can differ by a pixel or more (1.85 px measured with kernel 17).
    - DARK on an all-zero map: DarkPose's code returns NaN (0 / 0 in the blur rescale); we leave the
      argmax unrefined.
    """
    hm = _check_heatmaps(heatmaps)
    _check_positive(stride, "stride")
    xy, scores = _argmax(hm)
    if method == "argmax":
        pass
    elif method == "quarter":
        xy = _quarter(hm, xy, quarter_rule)
    elif method == "dark":
        if not (isinstance(dark_kernel, int) and dark_kernel >= 0 and (dark_kernel == 0 or dark_kernel % 2)):
            raise ValueError(f"dark_kernel: expected 0 or an odd positive int, got {dark_kernel!r}")
        xy = _dark(hm, xy, dark_kernel)
    elif method == "soft_argmax":
        _check_positive(temperature, "temperature")
        H, W = hm.shape[-2:]
        logits = torch.log(hm.clamp(min=1e-10)).flatten(2) / temperature
        p = torch.softmax(logits, dim=-1).view_as(hm)
        xs = torch.arange(W, device=hm.device, dtype=hm.dtype)
        ys = torch.arange(H, device=hm.device, dtype=hm.dtype)
        xy = torch.stack([(p.sum(-2) * xs).sum(-1), (p.sum(-1) * ys).sum(-1)], dim=-1)
    else:
        raise ValueError(f"method: expected 'argmax', 'quarter', 'dark' or 'soft_argmax', got {method!r}")
    return to_image(xy, stride), scores


def flip_test(heatmaps, heatmaps_flipped, flip_index, shift: int = 0) -> torch.Tensor:
    """Average a prediction with the prediction on the mirrored image.

    ``heatmaps_flipped`` is un-flipped (``W`` axis), its channels swapped left/right with
    ``flip_index`` (``Skeleton.flip_index``: ``unflipped[:, k] = flipped[:, flip_index[k]]``),
    shifted right by ``shift`` px (1 for HRNet's biased integer-centre targets, 0 for centre-aligned
    ones, where the mirror is exact), then averaged with ``heatmaps``. Shapes ``(B, K, H, W)``.
    """
    a, b = _check_heatmaps(heatmaps), _check_heatmaps(heatmaps_flipped)
    if a.shape != b.shape:
        raise ValueError(f"heatmaps_flipped: shape {tuple(b.shape)} differs from heatmaps {tuple(a.shape)}")
    idx = _tensor(flip_index, "flip_index")
    if idx.is_floating_point() or idx.shape != (a.shape[1],) or (len(idx) and (idx.min() < 0 or idx.max() >= len(idx))):
        raise ValueError(f"flip_index: expected ({a.shape[1]},) integer indices in [0, {a.shape[1]}), got "
                         f"{flip_index!r}")
    idx = idx.to(device=a.device, dtype=torch.long)
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not math.isfinite(shift) \
            or not float(shift).is_integer() or not 0 <= shift < a.shape[-1]:
        raise ValueError(f"shift: expected a whole number of px with 0 <= shift < W = {a.shape[-1]}, got {shift!r}")
    shift = int(shift)
    b = b.flip(-1)[:, idx]
    if shift:
        b = torch.cat([b[..., :1].expand(*b.shape[:-1], shift), b[..., :-shift]], dim=-1)
    return (a + b) / 2
