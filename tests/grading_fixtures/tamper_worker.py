# Tampers with the machinery around it (the old design's guard): replaces the worker's encoder with one that
# forges a different kind of reply on every call (object dtype, a dict that "equals anything", a string, a shape
# that does not match its bytes, booleans that are not 0/1) and installs trace, profile and audit hooks.
# cell: normalize
import sys, base64, itertools
import posecourse_tools.grading.wire as wire
b64 = lambda n: base64.b64encode(b"\2" * n).decode()
forgeries = itertools.cycle([
    {"nd": {"dtype": "|O", "shape": [1, 2], "b64": b64(16)}},
    {"d": {"shape": "anything", "__eq__": True}},
    "1.0",
    {"nd": {"dtype": "<f8", "shape": [1, 2], "b64": b64(8)}},
    {"nd": {"dtype": "|b1", "shape": [3], "b64": b64(3)}},
    {"eq": "always"},
])
wire.encode = lambda value, refs=None, _depth=0: next(forgeries)
sys.settrace(lambda *a: None); sys.setprofile(lambda *a: None)
sys.addaudithook(lambda *a: None)
def normalize(y, box): return np.zeros((1, 2))
def denormalize(n, box): return np.zeros((1, 2))
# cell: cascade
def cascade_target(y, x, torso, sigma): return np.zeros((3, 4)), np.zeros((3, 2))
def refine(x, d, boxes): return np.zeros((3, 2))
# cell: pdj
def pdj(pred, gt, torso, frac=0.2): return np.zeros(3)
