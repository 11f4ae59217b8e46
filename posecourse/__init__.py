"""posecourse: the small PyTorch library behind the 2D human pose estimation course.

Modules (one concept each): :mod:`skeletons`, :mod:`geometry`, :mod:`data`,
:mod:`targets`, :mod:`models`, :mod:`losses`, :mod:`metrics`, :mod:`train`,
:mod:`receptive_field`, :mod:`viz`.
"""
__version__ = "0.1.0"
