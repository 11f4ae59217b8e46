"""posecourse: the small PyTorch library behind the 2D human pose estimation course.

Read it in the order of the flow (each folder imports only from the ones above it in this list):

- ground floor: :mod:`params` (checks of every parameter, naming it), :mod:`utils` (device choice, seeding,
  values as plain data), :mod:`threads` (OpenMP threads that sleep while they wait), :mod:`skeletons` (joint
  layouts), :mod:`geometry` (boxes, ``N(y; b)``, affine crops, flips);
- :mod:`data`: the synthetic generator, real-format loaders, person crops, a lecture's data recipe;
- :mod:`targets`: the papers' encode/decode functions and ``codecs`` (one object per target kind);
- :mod:`models`: one architecture per file with its configurations' cards (``create_model(name)``), ``losses``,
  ``compute`` (MACs of a training budget), ``receptive_field``;
- :mod:`metrics` (PCP, PDJ, PCK, PCKh, OKS AP) and :mod:`evaluation` (a lecture's held-out score; ``real``: photos);
- :mod:`lectures`: one record per lecture;
- :mod:`train`: one loop (steps, AMP, DDP), ``checkpoint`` (resume, ``History``), ``fit`` (a lecture's notebook
  run), ``run`` (``run(RunConfig) -> RunResult``), ``command`` (``python -m posecourse.train``), ``weights``;
- :mod:`viz`: plots, widgets, architecture figures, source listings;
- lecture helpers: ``lectures.shipped`` (the shipped checkpoints), ``lectures.report``, ``lectures.domain_gap``.
"""
__version__ = "0.1.0"

# Before anything imports torch: OpenMP threads sleep, not spin, while they wait (posecourse.threads:
# a busy core no longer stalls training; results unchanged).
from .threads import _apply_at_import

_apply_at_import()
del _apply_at_import
