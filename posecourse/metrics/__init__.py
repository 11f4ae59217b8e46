"""Evaluation metrics (one concept per module).

* :mod:`.pck` — single-person accuracy: PCK, PCKh, PDJ, PCP, PCK curves and AUC.
* :mod:`.oks` — Object Keypoint Similarity (COCO), batched.
* :mod:`.coco_eval` — COCO keypoint AP/AR, the same numbers as pycocotools, without it.
"""
from .coco_eval import COCO_SIGMAS, STAT_NAMES, coco_keypoint_eval
from .oks import oks
from .pck import MPII_HEAD_SCALE, JointAccuracy, PCKCurve, PCPResult, auc, normalizer, pck, pck_curve, pckh, pcp, pdj

__all__ = ["coco_keypoint_eval", "COCO_SIGMAS", "STAT_NAMES", "oks", "pck", "pckh", "pdj", "pcp", "pck_curve", "auc",
           "normalizer", "JointAccuracy", "PCPResult", "PCKCurve", "MPII_HEAD_SCALE"]
