# wrong: x_and_y_swapped -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 1, None, None]) ** 2 + (ys[None] - joints[:, 0, None, None]) ** 2
    maps = np.exp(-d2 / (2 * sigma ** 2)) * (np.asarray(visible) > 0)[:, None, None]
    return np.concatenate([maps, (1.0 - maps.max(axis=0, initial=0.0))[None]], axis=0)
# wrong: visibility_ignored -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / (2 * sigma ** 2))
    return np.concatenate([maps, (1.0 - maps.max(axis=0, initial=0.0))[None]], axis=0)
# wrong: only_visible_code_2 -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / (2 * sigma ** 2)) * (np.asarray(visible) == 2)[:, None, None]
    return np.concatenate([maps, (1.0 - maps.max(axis=0, initial=0.0))[None]], axis=0)
# wrong: background_one_minus_sum -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / (2 * sigma ** 2)) * (np.asarray(visible) > 0)[:, None, None]
    return np.concatenate([maps, (1.0 - maps.sum(axis=0))[None]], axis=0)
# wrong: sigma_without_the_two -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / sigma ** 2) * (np.asarray(visible) > 0)[:, None, None]
    return np.concatenate([maps, (1.0 - maps.max(axis=0, initial=0.0))[None]], axis=0)
# wrong: background_first -> test_belief_maps
# cell: belief_maps
def belief_maps(joints, visible, height, width, sigma):
    joints = np.asarray(joints, dtype=float)
    ys, xs = np.mgrid[0:height, 0:width]
    d2 = (xs[None] - joints[:, 0, None, None]) ** 2 + (ys[None] - joints[:, 1, None, None]) ** 2
    maps = np.exp(-d2 / (2 * sigma ** 2)) * (np.asarray(visible) > 0)[:, None, None]
    return np.concatenate([(1.0 - maps.max(axis=0, initial=0.0))[None], maps], axis=0)
# wrong: mean_not_sum_over_batch -> test_staged_loss
# cell: staged_loss
def staged_loss(beliefs, target):
    return sum(((b - target) ** 2).mean() for b in beliefs)
# wrong: last_stage_only -> test_staged_loss
# cell: staged_loss
def staged_loss(beliefs, target):
    return ((beliefs[-1] - target) ** 2).sum() / target.shape[0]
# wrong: averaged_over_stages -> test_staged_loss
# cell: staged_loss
def staged_loss(beliefs, target):
    return sum(((b - target) ** 2).sum() for b in beliefs) / target.shape[0] / len(beliefs)
# wrong: returns_a_float -> test_staged_loss
# cell: staged_loss
def staged_loss(beliefs, target):
    return float(sum(((b - target) ** 2).sum() for b in beliefs) / target.shape[0])
# wrong: earlier_stages_detached -> test_staged_loss
# cell: staged_loss
def staged_loss(beliefs, target):
    return sum(((b.detach() if k < len(beliefs) - 1 else b) - target).pow(2).sum() for k, b in enumerate(beliefs)) / target.shape[0]
