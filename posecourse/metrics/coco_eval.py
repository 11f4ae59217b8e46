"""COCO keypoint AP/AR (OKS-based), reimplemented in vectorized NumPy.

Gives the same ten numbers as ``pycocotools``' ``COCOeval(gt, loadRes(dt), 'keypoints')``
followed by ``evaluate(); accumulate(); summarize()`` (``stats[0..9]``), without importing it.
The semantics reproduced (read from ``pycocotools/coco.py`` and ``cocoeval.py``):

* Images: every ``gt["images"]`` id (sorted, unique: a repeated image id is one image); categories: every
  ``gt["categories"]`` id. GT annotations on other images/categories are dropped, detections of other categories are
  dropped, detections on images not in ``gt["images"]`` are an error (``loadRes`` asserts).
* Repeated GT annotation ids (reproduced, not rejected): pycocotools indexes annotations by id (the last one of an id
  wins) and loads the evaluated GT by id, so every annotation sharing an id is replaced by a copy of the last one with
  that id, on that one's image and category (the copies all count; one on an image or category not evaluated drops out).
* Detections (``loadRes``): ids are ``1..D`` by position; if the *first* result has a
  non-empty ``bbox`` every detection's area is ``w * h`` of its bbox, otherwise the area is
  the extent ``(max x - min x) * (max y - min y)`` over *all* its keypoints (visible or not).
* GT ignore: ``iscrowd`` or ``num_keypoints == 0`` (an ``ignore`` field in the file is
  overwritten by pycocotools and so has no effect here either); outside the area range
  (inclusive bounds) -> ignored for that range. Crowd GT can absorb several detections.
* Per image: detections sorted by score (stable), only the top ``max_dets = 20`` kept.
* OKS: ``exp(-d^2 / (2 s^2 (2 sigma)^2))`` averaged over the GT's labelled joints
  (``v > 0``), ``s^2 = area + eps`` from the GT ``area`` field; for GT with no labelled
  joint, ``d`` is the distance of each detected joint to the GT box enlarged to 3x.
* Greedy matching per threshold in score order: best OKS among unmatched regular GT (ties -> later GT), ignored GT only
  if no regular GT qualifies; a detection matched to ignored GT, or unmatched and outside the area range, is ignored. A
  match to a GT whose ``id`` is 0 counts as unmatched (pycocotools stores ids and tests them for truth).
* 101-point interpolated precision over thresholds 0.50:0.05:0.95, area ranges all / medium (32^2..96^2) / large
  (96^2..1e5^2); -1 where a category/range has no non-ignored GT; means are over the entries > -1.

Differences (pycocotools would crash): an empty detection list is allowed (AP = AR = 0, or -1 where there is no GT),
missing ``iscrowd`` counts as 0, and non-finite numbers raise ``ValueError`` (except GT coordinates of unlabelled
joints, which are never used)."""
from __future__ import annotations

import gc
import json
import os
from itertools import chain

import numpy as np

__all__ = ["coco_keypoint_eval", "COCO_SIGMAS", "STAT_NAMES"]

# pycocotools/cocoeval.py, Params.setKpParams (kpt_oks_sigmas).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
AREA_RNG = np.array([[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]], dtype=float)
AREA_LBL = ("all", "medium", "large")
_BLOCK = 1 << 14  # detections per matching block (whole images)


def _load(obj, name):
    if isinstance(obj, (str, os.PathLike)):
        with open(obj) as f:
            return json.load(f)
    return obj


def _floats(rows, width, name, finite=True):
    """Stack ``rows`` (each ``width`` numbers) into a finite ``(N, width)`` float array."""
    rows = list(rows)
    try:
        if (bad := next((len(r) for r in rows if len(r) != width), None)) is not None:
            raise ValueError(f"{name}: expected {width} values per entry, got {bad}")
        arr = np.fromiter(chain.from_iterable(rows), dtype=float, count=len(rows) * width).reshape(-1, width)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: could not read as numbers ({e})") from None
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


def _oks_pairs(dkp, gkp, gvis, garea, gbox, sigmas):
    """OKS ``(P,)`` of paired rows exactly as ``COCOeval.computeOks`` computes it (same float ops and same summation
    order, so results are bit-identical): dkp, gkp ``(P, K, 2)``; gvis ``(P, K)`` bool; garea ``(P,)``; gbox ``(P, 4)``
    xywh."""
    var = (sigmas * 2) ** 2
    k1 = gvis.sum(1)
    dx = dkp[..., 0] - gkp[..., 0]
    dy = dkp[..., 1] - gkp[..., 1]
    none = k1 == 0
    if none.any():  # distance to the GT box enlarged to 3x
        b = gbox[none]
        x0, x1 = b[:, :1] - b[:, 2:3], b[:, :1] + b[:, 2:3] * 2
        y0, y1 = b[:, 1:2] - b[:, 3:4], b[:, 1:2] + b[:, 3:4] * 2
        xd, yd = dkp[none, :, 0], dkp[none, :, 1]
        dx[none] = np.maximum(0, x0 - xd) + np.maximum(0, xd - x1)
        dy[none] = np.maximum(0, y0 - yd) + np.maximum(0, yd - y1)
    e = (dx ** 2 + dy ** 2) / var / (garea[:, None] + np.spacing(1)) / 2
    use = gvis | none[:, None]
    n = use.sum(1)
    # move the used terms to the front of each row (keeping their order) and reduce rows of equal length together, so
    # each row is summed exactly like pycocotools' 1-D np.sum(np.exp(-e[vg > 0])) (same pairwise-summation grouping,
    # same bits).
    ex = np.zeros_like(e)
    r, c = np.nonzero(use)
    ex[r, np.cumsum(use, axis=1)[r, c] - 1] = np.exp(-e[r, c])
    out = np.empty(len(e))
    for m in np.unique(n):
        rows = n == m
        out[rows] = ex[rows, :m].sum(1) / m
    return out


def _match(d_grp, d_kp, rank, g_grp, g_kp, g_area, g_box, g_crowd, g_idnz, g_ign, sig):
    """OKS and COCOeval.evaluateImg's greedy matching for detections ``(D, K, 3)`` and GT ``(G, K, 3)``
    sorted by group (category x image; detections by score within it). Returns ``matched`` and
    ``d_ign``, ``(A, T, D)`` bools: matched to a GT with a truthy id / matched to an ignored GT."""
    A, T, D = len(AREA_RNG), len(IOU_THRS), len(d_grp)
    # ---- OKS for every (detection, GT) pair in the same group
    g_start = np.searchsorted(g_grp, d_grp, side="left")
    g_count = np.searchsorted(g_grp, d_grp, side="right") - g_start
    p_det = np.repeat(np.arange(D), g_count)
    p_loc = np.arange(len(p_det)) - np.repeat(np.cumsum(g_count) - g_count, g_count)
    p_gt = g_start[p_det] + p_loc
    p_oks = _oks_pairs(d_kp[p_det, :, :2], g_kp[p_gt, :, :2], g_kp[p_gt, :, 2] > 0, g_area[p_gt], g_box[p_gt], sig)

    pstart = np.cumsum(g_count) - g_count  # where each detection's pairs start

    # ---- greedy matching, all groups at once, bucketed by GT count (padded to a power of 2)
    matched, d_ign = np.zeros((2, A, T, D), dtype=bool)
    matched_at, d_ign_at = matched.reshape(A * T, D), d_ign.reshape(A * T, D)  # views
    has_gt = g_count > 0
    grp_first_det = np.flatnonzero(has_gt & (rank == 0))
    ng = g_count[grp_first_det]
    nd = np.searchsorted(d_grp, d_grp[grp_first_det], side="right") - grp_first_det
    size = 1 << np.ceil(np.log2(np.maximum(ng, 1))).astype(int)
    for gp in np.unique(size):
        sel = np.flatnonzero(size == gp)
        sel = sel[np.argsort(-nd[sel], kind="stable")]  # most detections first: live groups are a prefix
        det0, gs, n_g, n_d = grp_first_det[sel], g_start[grp_first_det[sel]], ng[sel], nd[sel]
        B, Dp = len(det0), int(n_d[0])
        loc = np.arange(gp)
        exists = loc[None] < n_g[:, None]  # (B, Gp)
        gidx = np.where(exists, gs[:, None] + loc[None], 0)
        ious = np.full((B, Dp, gp), -np.inf)
        pb = np.repeat(np.arange(B), n_d)  # (bucket group, rank) of each detection of the bucket
        pr = np.arange(n_d.sum()) - np.repeat(np.cumsum(n_d) - n_d, n_d)
        rows = det0[pb] + pr
        cnt = g_count[rows]
        pidx = np.repeat(pstart[rows], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        ious[np.repeat(pb, cnt), np.repeat(pr, cnt), p_loc[pidx]] = p_oks[pidx]
        free_always = g_crowd[gidx] & exists  # crowd GT can be matched repeatedly
        idnz = g_idnz[gidx]
        thr = np.tile(IOU_THRS, A)[None, :, None]  # area ranges and thresholds on one axis (a-major)
        n_live = (n_d[None, :] > np.arange(Dp)[:, None]).sum(1)
        ign = np.repeat(g_ign[:, gidx].transpose(1, 0, 2), T, axis=1)  # (B, A*T, Gp)
        taken = np.zeros((B, A * T, gp), dtype=bool)
        for r in range(Dp):
            L = n_live[r]
            iou = ious[:L, r, None, :]  # (L, 1, Gp)
            ok = (exists[:L, None] & (iou >= thr)) & ~(taken[:L] & ~free_always[:L, None])
            igd = ok & ign[:L]
            reg = ok ^ igd
            has_reg = reg.any(-1)
            # last index of the best OKS (later GT wins ties), regular GT before ignored GT
            pick = np.where(has_reg[..., None], reg, igd)
            m = gp - 1 - np.argmax(np.where(pick, iou, -np.inf)[..., ::-1], axis=-1)  # (L, A*T)
            has = has_reg | igd.any(-1)
            bi, ti = np.nonzero(has)
            taken[bi, ti, m[bi, ti]] = True
            dpos = det0[:L] + r
            matched_at[:, dpos] = (has & np.take_along_axis(idnz[:L], m, 1)).T
            d_ign_at[:, dpos] = (has & np.take_along_axis(ign[:L], m[..., None], 2)[..., 0]).T
    return matched, d_ign


def _flag(ann: dict, key: str) -> bool:
    """``iscrowd``: 0/1 (or a bool; absent = 0). A string such as ``"0"`` is refused: pycocotools would read
    any non-empty string as true, i.e. a crowd region."""
    v = ann.get(key, 0)
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer, float)) and v in (0, 1)):
        return bool(v)
    raise ValueError(f"gt: annotation id {ann.get('id')!r}: {key!r} is {v!r} ({type(v).__name__}), expected 0 or 1")


def _count(ann: dict, key: str) -> int:
    v = ann[key]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or not float(v).is_integer() or v < 0:
        raise ValueError(f"gt: annotation id {ann.get('id')!r}: {key!r} is {v!r} ({type(v).__name__}), "
                         "expected a count >= 0")
    return int(v)


def _culprit(anns, e: Exception) -> str:
    """The first of ``anns`` lacking the field of the ``KeyError`` ``e`` (``"annotation 3 (id 7)"``; error path)."""
    n = next((i for i, a in enumerate(anns) if isinstance(a, dict) and e.args[0] not in a), None) \
        if isinstance(e, KeyError) and isinstance(anns, list) else None
    return "annotation" if n is None else f"annotation {n} (id {anns[n].get('id')!r})"


def coco_keypoint_eval(gt, dt, *, sigmas=None, max_dets: int = 20) -> dict:
    """COCO keypoint AP/AR, identical to pycocotools' ``COCOeval(..., 'keypoints')`` stats: ``{"AP", "AP50", "AP75",
    "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}`` floats (-1 where pycocotools gives -1: no non-ignored GT in that
    area range). ``gt``: a COCO keypoint dict (``images``, ``categories``, ``annotations`` with ``keypoints``
    ``[x, y, v] * K``, ``num_keypoints``, ``area``, ``bbox``, ``iscrowd``, ``id``) or its JSON file; ``dt``: a list of
    results (``image_id``, ``category_id``, ``keypoints`` ``[x, y, s] * K``, ``score``, optional ``bbox``) or its JSON
    file; ``sigmas``: per-joint OKS constants ``(K,)`` (default COCO-17's); ``max_dets``: detections kept per image."""
    enabled = gc.isenabled()
    gc.disable()  # the inputs hold ~10 tracked objects per annotation: collections would rescan them
    try:
        return _evaluate(gt, dt, sigmas, max_dets)
    finally:
        if enabled:
            gc.enable()


def _evaluate(gt, dt, sigmas, max_dets) -> dict:
    """:func:`coco_keypoint_eval` (with the garbage collector off)."""
    gt, dt = _load(gt, "gt"), _load(dt, "dt")
    if not isinstance(gt, dict) or not all(k in gt for k in ("images", "categories", "annotations")):
        raise ValueError("gt: expected a COCO dict with 'images', 'categories' and 'annotations'")
    if not isinstance(dt, list):
        raise ValueError(f"dt: expected a list of results, got {type(dt).__name__}")
    sig = COCO_SIGMAS if sigmas is None else np.asarray(sigmas, dtype=float).reshape(-1)
    if sig.size == 0 or not np.isfinite(sig).all() or (sig <= 0).any():
        raise ValueError("sigmas: expected positive finite per-joint constants")
    K, T, R, A = len(sig), len(IOU_THRS), len(REC_THRS), len(AREA_RNG)
    if not isinstance(max_dets, int) or max_dets < 1:
        raise ValueError(f"max_dets: expected a positive int, got {max_dets!r}")

    try:
        img_ids = sorted({im["id"] for im in gt["images"]})
        cat_ids = sorted({c["id"] for c in gt["categories"]})
    except (KeyError, TypeError) as e:
        raise ValueError(f"gt: images/categories need an 'id' ({e})") from None
    img_of, cat_of = ({v: i for i, v in enumerate(ids)} for ids in (img_ids, cat_ids))
    NI, NC = len(img_ids), len(cat_ids)

    # ---- ground truth, in pycocotools' order: by category, image, then file order
    try:
        anns = [a for a in gt["annotations"] if a["image_id"] in img_of and a["category_id"] in cat_of]
        by_id = {a["id"]: a for a in gt["annotations"]}  # COCO.anns: the last annotation of an id wins
        if len(by_id) != len(gt["annotations"]):  # duplicate ids: getAnnIds -> loadAnns substitutes
            anns.sort(key=lambda a: img_of[a["image_id"]])  # imgToAnns chained over sorted image ids
            anns = [by_id[a["id"]] for a in anns]
            anns = [a for a in anns if a["image_id"] in img_of and a["category_id"] in cat_of]
        g_grp = np.fromiter((cat_of[a["category_id"]] * NI + img_of[a["image_id"]] for a in anns), np.int64, len(anns))
        g_kp = _floats([a["keypoints"] for a in anns], 3 * K, "gt keypoints", finite=False).reshape(-1, K, 3)
        if not (np.isfinite(g_kp[..., 2]).all() and np.isfinite(g_kp[g_kp[..., 2] > 0, :2]).all()):
            raise ValueError("gt keypoints: NaN or inf at a labelled joint (v > 0) or in v")
        g_area = _floats([[a["area"]] for a in anns], 1, "gt area")[:, 0]
        g_box = _floats([a["bbox"] for a in anns], 4, "gt bbox")
        g_crowd = np.array([_flag(a, "iscrowd") for a in anns], dtype=bool)
        g_nokp = np.array([_count(a, "num_keypoints") == 0 for a in anns], dtype=bool)
        g_idnz = np.array([bool(a["id"]) for a in anns], dtype=bool)
    except (KeyError, TypeError) as e:
        raise ValueError(f"gt: {_culprit(gt['annotations'], e)} lacks a field or has a bad value ({e!r})") from None
    go = np.argsort(g_grp, kind="stable")
    g_grp, g_kp, g_area, g_box, g_crowd, g_nokp, g_idnz = (x[go] for x in (g_grp, g_kp, g_area, g_box, g_crowd, g_nokp, g_idnz))
    # (A, G): ignored in area range a
    g_ign = (g_crowd | g_nokp)[None] | (g_area[None] < AREA_RNG[:, :1]) | (g_area[None] > AREA_RNG[:, 1:])

    # ---- detections (loadRes)
    try:
        bad = sorted({d["image_id"] for d in dt if d["image_id"] not in img_of}, key=str)
        if bad:
            raise ValueError(f"dt: results for image ids not in gt['images']: {bad[:10]}")
        dets = [d for d in dt if d["category_id"] in cat_of]
        d_grp = np.fromiter((cat_of[d["category_id"]] * NI + img_of[d["image_id"]] for d in dets), np.int64, len(dets))
        d_score = _floats([[d["score"]] for d in dets], 1, "dt score")[:, 0]
        d_kp = _floats([d["keypoints"] for d in dets], 3 * K, "dt keypoints").reshape(-1, K, 3)
        if dt and dt[0].get("bbox", []) != []:
            b = _floats([d["bbox"] for d in dets], 4, "dt bbox")
            d_area = b[:, 2] * b[:, 3]
        else:
            x, y = d_kp[..., 0], d_kp[..., 1]
            d_area = (x.max(1) - x.min(1)) * (y.max(1) - y.min(1)) if len(dets) else np.zeros(0)
    except (KeyError, TypeError) as e:
        raise ValueError(f"dt: result lacks a field or has a bad value ({e!r})") from None
    # sort by group, then score (stable), keep the top max_dets per group
    do = np.lexsort((-d_score, d_grp))
    d_grp, d_score, d_area = d_grp[do], d_score[do], d_area[do]
    first = np.searchsorted(d_grp, d_grp, side="left")
    rank = np.arange(len(d_grp)) - first
    keep = rank < max_dets
    d_grp, d_score, d_area, rank, d_row = d_grp[keep], d_score[keep], d_area[keep], rank[keep], do[keep]
    D = len(d_grp)
    d_out = (d_area[None] < AREA_RNG[:, :1]) | (d_area[None] > AREA_RNG[:, 1:])  # (A, D)

    # ---- OKS and matching, a block of whole images at a time (cache-sized: the cost stays linear)
    matched, d_ign = np.zeros((2, A, T, D), dtype=bool)  # matched to a GT with a truthy id / to an ignored GT
    s = 0
    while s < D:
        e = D if s + _BLOCK >= D else int(np.searchsorted(d_grp, d_grp[s + _BLOCK - 1], side="right"))
        gs, ge = np.searchsorted(g_grp, d_grp[s], side="left"), np.searchsorted(g_grp, d_grp[e - 1], side="right")
        matched[:, :, s:e], d_ign[:, :, s:e] = _match(
            d_grp[s:e], d_kp[d_row[s:e]], rank[s:e], g_grp[gs:ge], g_kp[gs:ge], g_area[gs:ge], g_box[gs:ge],
            g_crowd[gs:ge], g_idnz[gs:ge], g_ign[:, gs:ge], sig)
        s = e
    d_ign |= ~matched & d_out[:, None, :]

    # ---- accumulate: per category and area range, detections of all images by score
    precision = -np.ones((T, R, NC, A, 1))
    recall = -np.ones((T, NC, A, 1))
    d_cat, g_cat = d_grp // NI, g_grp // NI
    for k in range(NC):
        dk = np.flatnonzero(d_cat == k)
        order = dk[np.argsort(-d_score[dk], kind="mergesort")]
        mk, valid = matched[:, :, order], ~d_ign[:, :, order]  # (A, T, n)
        for a in range(A):  # (no GT of category k -> npig = 0 -> stays -1, as in pycocotools)
            npig = np.count_nonzero(~g_ign[a][g_cat == k])
            if npig == 0:
                continue
            tp = np.cumsum(mk[a] & valid[a], axis=1, dtype=float)  # counts: exact in float
            fp = np.cumsum(~mk[a] & valid[a], axis=1, dtype=float)
            n = tp.shape[1]
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
            for t in range(T):
                recall[t, k, a, 0] = rc[t, -1] if n else 0
                q = np.zeros(R)
                if n:
                    inds = np.searchsorted(rc[t], REC_THRS, side="left")
                    ok = inds < n
                    q[ok] = pr[t, inds[ok]]
                precision[t, :, k, a, 0] = q
    return _summarize(precision, recall)


def _summarize(precision, recall) -> dict:
    """The ten keypoint stats of ``COCOeval.summarize`` (same indexing, same means)."""

    def one(ap, thr=None, area="all"):
        aind, mind = [AREA_LBL.index(area)], [0]
        s = precision if ap else recall
        if thr is not None:
            s = s[np.where(thr == IOU_THRS)[0]]
        s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    return dict(zip(STAT_NAMES, [one(ap, *a) for ap in (1, 0) for a in ((), (.5,), (.75,), (None, "medium"),
                                                                        (None, "large"))]))
