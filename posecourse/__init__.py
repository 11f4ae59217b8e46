"""posecourse: the small PyTorch library behind the 2D human pose estimation course.

Read it in the order of the flow (one concept per module):

- data: :mod:`skeletons` (joint layouts), :mod:`geometry` (boxes, ``N(y; b)``, affine crops, flips),
  :mod:`data` (the synthetic generator, real-format loaders, person crops, a lecture's data recipe);
- targets: :mod:`targets` (the papers' encode/decode functions) and :mod:`codecs` (one object per target
  kind whose ``encode`` and ``decode`` share their parameters);
- models: :mod:`models` (one architecture per file with its configurations' cards, ``create_model(name)``),
  :mod:`receptive_field`;
- training: :mod:`losses`, :mod:`train` (one loop: steps, AMP, DDP), :mod:`train_checkpoint` (checkpoints,
  resume, ``History``), :mod:`run` (``run(RunConfig) -> RunResult`` on synthetic or real data), :mod:`fit` (a
  lecture's notebook run), :mod:`command` (``python -m posecourse.train``: options -> ``RunConfig``),
  :mod:`weights` (official weights);
- evaluation: :mod:`metrics` (PCP, PDJ, PCK, PCKh, OKS AP), :mod:`evaluation` (a lecture's held-out
  score), :mod:`realeval` (real photos), :mod:`compute` (MACs of a training budget);
- lectures: :mod:`lectures` (one record per lecture), :mod:`shipped` (the shipped checkpoints),
  :mod:`report`, :mod:`domain_gap`, :mod:`viz` (plots, widgets, architecture figures, source listings);
- shared: :mod:`params` (checks of every parameter, naming it), :mod:`utils` (device choice, seeding),
  :mod:`threads` (OpenMP threads that sleep while they wait: a busy core does not stall training).
"""
__version__ = "0.1.0"

# Before anything imports torch: OpenMP threads sleep, not spin, while they wait (posecourse.threads:
# a busy core no longer stalls training; results unchanged).
from .threads import _apply_at_import

_apply_at_import()
del _apply_at_import
