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
# wrong: stage_ignores_the_beliefs -> test_cpm_stage
# cell: cpm_stage
class CPMStage(nn.Module):
    def __init__(self, feat_channels, parts, width, kernel):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(feat_channels, width, kernel, padding=kernel // 2), nn.ReLU(),
            nn.Conv2d(width, width, kernel, padding=kernel // 2), nn.ReLU(), nn.Conv2d(width, parts + 1, 1))

    def forward(self, features, beliefs):
        return self.layers(features)
# wrong: stage_without_padding -> test_cpm_stage
# cell: cpm_stage
class CPMStage(nn.Module):
    def __init__(self, feat_channels, parts, width, kernel):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(feat_channels + parts + 1, width, kernel), nn.ReLU(),
            nn.Conv2d(width, width, kernel), nn.ReLU(), nn.Conv2d(width, parts + 1, 1))

    def forward(self, features, beliefs):
        return self.layers(torch.cat([features, beliefs], dim=1))
# wrong: stage_predicts_parts_without_background -> test_cpm_stage
# cell: cpm_stage
class CPMStage(nn.Module):
    def __init__(self, feat_channels, parts, width, kernel):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(feat_channels + parts + 1, width, kernel, padding=kernel // 2), nn.ReLU(),
            nn.Conv2d(width, width, kernel, padding=kernel // 2), nn.ReLU(), nn.Conv2d(width, parts, 1))

    def forward(self, features, beliefs):
        return self.layers(torch.cat([features, beliefs], dim=1))
# wrong: strides_ignored -> test_stage_receptive_fields
# cell: stage_receptive_fields
def stage_receptive_fields(stage1, features, stage, num_stages):
    rf1 = 1 + sum(k - 1 for k, s in stage1)
    feat = 1 + sum(k - 1 for k, s in features)
    rfs = [rf1]
    for _ in range(num_stages - 1):
        rfs.append(max(feat, rfs[-1]) + sum(k - 1 for k, s in stage))
    return rfs
# wrong: later_stages_from_the_features_only -> test_stage_receptive_fields
# cell: stage_receptive_fields
def stage_receptive_fields(stage1, features, stage, num_stages):
    def walk(layers, rf=1, jump=1):
        for k, s in layers:
            rf, jump = rf + (k - 1) * jump, jump * s
        return rf, jump
    rfs = [walk(stage1)[0]]
    feat_rf, jump = walk(features)
    return rfs + [walk(stage, feat_rf, jump)[0] for _ in range(num_stages - 1)]
# wrong: stride_applied_before_the_kernel -> test_stage_receptive_fields
# cell: stage_receptive_fields
def stage_receptive_fields(stage1, features, stage, num_stages):
    def walk(layers, rf=1, jump=1):
        for k, s in layers:
            jump = jump * s
            rf = rf + (k - 1) * jump
        return rf, jump
    rfs = [walk(stage1)[0]]
    feat_rf, jump = walk(features)
    for _ in range(num_stages - 1):
        rfs.append(walk(stage, max(feat_rf, rfs[-1]), jump)[0])
    return rfs
