# cell: normalize
def normalize(y, box):
    y = np.asarray(y, dtype=float)
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (y - np.array([x0 + w / 2, y0 + h / 2])) / np.array([w, h])


def denormalize(y, box):
    y = np.asarray(y, dtype=float)
    x0, y0, w, h = np.asarray(box, dtype=float)
    return y * np.array([w, h]) + np.array([x0 + w / 2, y0 + h / 2])
