# Tampers with the machinery around it (the old design's guard): the worker's encoder, trace/profile/audit hooks,
# so that replies claim object arrays, strings, or values that compare equal to anything.
# cell: normalize
import sys, base64
import posecourse_tools.grading.wire as wire
def evil_encode(value, refs=None, _depth=0):
    return {"nd": {"dtype": "|O", "shape": [1, 2], "b64": base64.b64encode(b"\0" * 16).decode()}}
wire.encode = evil_encode
sys.settrace(lambda *a: None); sys.setprofile(lambda *a: None)
sys.addaudithook(lambda *a: None)
def normalize(y, box): return np.zeros((1, 2))
def denormalize(n, box): return np.zeros((1, 2))
# cell: cascade
def cascade_target(y, x, torso, sigma): return np.zeros((3, 4)), np.zeros((3, 2))
def refine(x, d, boxes): return np.zeros((3, 2))
wire.encode = lambda value, refs=None, _depth=0: {"d": {"shape": "anything", "__eq__": True}}
# cell: pdj
def pdj(pred, gt, torso, frac=0.2): return np.zeros(3)
wire.encode = lambda value, refs=None, _depth=0: "1.0"
