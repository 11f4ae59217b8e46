"""Training targets as codecs: every target has an ``encode`` and the matching ``decode``.

- :mod:`.regression` — DeepPose normalized coordinates and cascade displacements.
- :mod:`.heatmap` — Gaussian belief maps (CPM background channel), argmax/DARK/soft-argmax decoding.
- :mod:`.paf` — OpenPose Part Affinity Fields, line integral, matching and person assembly.
- :mod:`.peaks` — peak finding on belief maps (non-maximum suppression, at most ``MAX_PEAKS`` per joint),
  the candidates :mod:`.paf` assembles into people.
"""
