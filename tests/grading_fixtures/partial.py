# Only 1.1 is done (and right): 2 of 8 points.
# cell: normalize
def normalize(y, box):
    y = np.asarray(y, dtype=float)
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (y - np.array([x0 + w / 2, y0 + h / 2])) / np.array([w, h])


def denormalize(n, box):
    n = np.asarray(n, dtype=float)
    x0, y0, w, h = np.asarray(box, dtype=float)
    return n * np.array([w, h]) + np.array([x0 + w / 2, y0 + h / 2])
