# The baseline: an honest attempt with wrong maths (no centring, diameter from the ground truth, `<` not `<=`).
# Every cheat must score no more than this.
# cell: normalize
def normalize(y, box):
    y = np.asarray(y, dtype=float)
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (y - np.array([x0, y0])) / np.array([w, h])


def denormalize(n, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return np.asarray(n, dtype=float) * np.array([w, h]) + np.array([x0, y0])
# cell: cascade
def cascade_target(y, x, torso, sigma):
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    side = sigma * np.linalg.norm(y[torso[0]] - y[torso[1]])
    return np.concatenate([x, np.full_like(x, side)], axis=1), (y - x) / side


def refine(x, d, boxes):
    return np.asarray(x) + np.asarray(d) * np.asarray(boxes)[:, 2:]
# cell: pdj
def pdj(pred, gt, torso, frac=0.2):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    diameter = np.linalg.norm(gt[:, torso[0]] - gt[:, torso[1]], axis=-1)
    return (np.linalg.norm(pred - gt, axis=-1) < frac * diameter[:, None]).mean(axis=0)
