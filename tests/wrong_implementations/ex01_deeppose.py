# wrong: box_corner_as_origin -> test_normalize
# cell: normalize
def normalize(y, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (np.asarray(y, dtype=float) - np.array([x0, y0])) / np.array([w, h])
def denormalize(n, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return np.asarray(n, dtype=float) * np.array([w, h]) + np.array([x0, y0])
# wrong: width_and_height_swapped -> test_normalize
# cell: normalize
def normalize(y, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (np.asarray(y, dtype=float) - np.array([x0 + w / 2, y0 + h / 2])) / np.array([h, w])
def denormalize(n, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return np.asarray(n, dtype=float) * np.array([h, w]) + np.array([x0 + w / 2, y0 + h / 2])
# wrong: one_scale_for_both_axes -> test_normalize
# cell: normalize
def normalize(y, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (np.asarray(y, dtype=float) - np.array([x0 + w / 2, y0 + h / 2])) / max(w, h)
def denormalize(n, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return np.asarray(n, dtype=float) * max(w, h) + np.array([x0 + w / 2, y0 + h / 2])
# wrong: inverse_divides -> test_normalize
# cell: normalize
def normalize(y, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return (np.asarray(y, dtype=float) - np.array([x0 + w / 2, y0 + h / 2])) / np.array([w, h])
def denormalize(n, box):
    x0, y0, w, h = np.asarray(box, dtype=float)
    return np.asarray(n, dtype=float) / np.array([w, h]) + np.array([x0 + w / 2, y0 + h / 2])
# wrong: diameter_on_ground_truth -> test_cascade
# cell: cascade
def cascade_target(y, x, torso, sigma):
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    side = sigma * np.linalg.norm(y[torso[0]] - y[torso[1]])
    return np.concatenate([x - side / 2, np.full_like(x, side)], axis=1), (y - x) / side
def refine(x, d, boxes):
    return np.asarray(x, dtype=float) + np.asarray(d, dtype=float) * np.asarray(boxes, dtype=float)[:, 2:]
# wrong: box_corner_on_prediction -> test_cascade
# cell: cascade
def cascade_target(y, x, torso, sigma):
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    side = sigma * np.linalg.norm(x[torso[0]] - x[torso[1]])
    return np.concatenate([x, np.full_like(x, side)], axis=1), (y - x) / side
def refine(x, d, boxes):
    return np.asarray(x, dtype=float) + np.asarray(d, dtype=float) * np.asarray(boxes, dtype=float)[:, 2:]
# wrong: target_not_normalised -> test_cascade
# cell: cascade
def cascade_target(y, x, torso, sigma):
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    side = sigma * np.linalg.norm(x[torso[0]] - x[torso[1]])
    return np.concatenate([x - side / 2, np.full_like(x, side)], axis=1), y - x
def refine(x, d, boxes):
    return np.asarray(x, dtype=float) + np.asarray(d, dtype=float)
# wrong: refine_assumes_square_boxes -> test_cascade
# cell: cascade
def cascade_target(y, x, torso, sigma):
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    side = sigma * np.linalg.norm(x[torso[0]] - x[torso[1]])
    return np.concatenate([x - side / 2, np.full_like(x, side)], axis=1), (y - x) / side
def refine(x, d, boxes):
    return np.asarray(x, dtype=float) + np.asarray(d, dtype=float) * np.asarray(boxes, dtype=float)[:, 2:3]
# wrong: strict_threshold -> test_pdj
# cell: pdj
def pdj(pred, gt, torso, frac=0.2):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    diameter = np.linalg.norm(gt[:, torso[0]] - gt[:, torso[1]], axis=-1)
    return (np.linalg.norm(pred - gt, axis=-1) < frac * diameter[:, None]).mean(axis=0)
# wrong: mean_torso_of_the_batch -> test_pdj
# cell: pdj
def pdj(pred, gt, torso, frac=0.2):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    diameter = np.linalg.norm(gt[:, torso[0]] - gt[:, torso[1]], axis=-1).mean()
    return (np.linalg.norm(pred - gt, axis=-1) <= frac * diameter).mean(axis=0)
# wrong: torso_on_prediction -> test_pdj
# cell: pdj
def pdj(pred, gt, torso, frac=0.2):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    diameter = np.linalg.norm(pred[:, torso[0]] - pred[:, torso[1]], axis=-1)
    return (np.linalg.norm(pred - gt, axis=-1) <= frac * diameter[:, None]).mean(axis=0)
# wrong: one_number_for_all_joints -> test_pdj
# cell: pdj
def pdj(pred, gt, torso, frac=0.2):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    diameter = np.linalg.norm(gt[:, torso[0]] - gt[:, torso[1]], axis=-1)
    return np.float64((np.linalg.norm(pred - gt, axis=-1) <= frac * diameter[:, None]).mean())
