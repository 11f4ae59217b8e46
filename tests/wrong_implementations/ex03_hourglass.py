# wrong: relu_after_the_addition -> test_residual
# cell: residual
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, out_channels, 1))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))
# wrong: post_activation_conv_bn_relu -> test_residual
# cell: residual
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, padding=1), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, out_channels, 1), nn.BatchNorm2d(out_channels), nn.ReLU())
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)
# wrong: skip_always_a_conv -> test_residual
# cell: residual
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, out_channels, 1))
        self.skip = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)
# wrong: bottleneck_from_the_input_width -> test_residual
# cell: residual
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = in_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, out_channels, 1))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)
# wrong: convolutions_without_bias -> test_residual
# cell: residual
class Residual(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        mid = out_channels // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(), nn.Conv2d(mid, out_channels, 1, bias=False))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x):
        return self.body(x) + self.skip(x)
# wrong: average_pooling -> test_hourglass
# cell: hourglass
class Hourglass(nn.Module):
    def __init__(self, depth, channels):
        super().__init__()
        self.up = Residual(channels, channels)
        self.low1 = Residual(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.avg_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode="nearest")
# wrong: bilinear_upsampling -> test_hourglass
# cell: hourglass
class Hourglass(nn.Module):
    def __init__(self, depth, channels):
        super().__init__()
        self.up = Residual(channels, channels)
        self.low1 = Residual(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
# wrong: no_recursion -> test_hourglass
# cell: hourglass
class Hourglass(nn.Module):
    def __init__(self, depth, channels):
        super().__init__()
        self.up = Residual(channels, channels)
        self.low1 = Residual(channels, channels)
        self.low2 = Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode="nearest")
# wrong: skip_without_its_residual -> test_hourglass
# cell: hourglass
class Hourglass(nn.Module):
    def __init__(self, depth, channels):
        super().__init__()
                self.low1 = Residual(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x):
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return x + F.interpolate(low, scale_factor=2, mode="nearest")
# wrong: mean_over_every_joint -> test_stacked_loss
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    return sum(((o - target) ** 2).mean() for o in outputs)
# wrong: mean_over_stacks -> test_stacked_loss
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    mask = (torch.as_tensor(visible) > 0).to(target.dtype)[:, :, None, None]
    n = mask.sum() * target.shape[2] * target.shape[3]
    return sum((mask * (o - target) ** 2).sum() for o in outputs) / n / len(outputs)
# wrong: divided_by_joints_not_pixels -> test_stacked_loss
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    mask = (torch.as_tensor(visible) > 0).to(target.dtype)[:, :, None, None]
    return sum((mask * (o - target) ** 2).sum() for o in outputs) / mask.sum()
# wrong: only_visible_code_2 -> test_stacked_loss
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    mask = (torch.as_tensor(visible) == 2).to(target.dtype)[:, :, None, None]
    n = mask.sum() * target.shape[2] * target.shape[3]
    return sum((mask * (o - target) ** 2).sum() for o in outputs) / n
# wrong: returns_a_float -> test_stacked_loss
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    mask = (torch.as_tensor(visible) > 0).to(target.dtype)[:, :, None, None]
    n = mask.sum() * target.shape[2] * target.shape[3]
    return float(sum((mask * (o - target) ** 2).sum() for o in outputs) / n)
# wrong: head_box_read_as_corners -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[:, None]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / visible.sum(0)
# wrong: strict_threshold -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) < alpha * head[:, None]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / visible.sum(0)
# wrong: without_the_factor_0_6 -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 1.0 * np.linalg.norm(boxes[:, 2:], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[:, None]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / visible.sum(0)
# wrong: unlabelled_joints_in_the_total -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[:, None]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / len(hit)
# wrong: zero_for_a_joint_never_labelled -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[:, None]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(hit.sum(0) / visible.sum(0))
# wrong: first_image_head_size_for_all -> test_pckh
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, boxes = np.asarray(visible) > 0, np.asarray(head_boxes, dtype=float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:], axis=-1)
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[0]) & visible
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / visible.sum(0)
# wrong: heatmaps_not_reinjected -> test_stacked
# cell: stacked
class Stacked(nn.Module):
    def __init__(self, num_stacks, channels, joints, depth):
        super().__init__()
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, joints, 1) for _ in range(num_stacks))
        self.back_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(num_stacks - 1))

    def forward(self, x):
        outputs = []
        for i, (hourglass, head) in enumerate(zip(self.hourglasses, self.heads)):
            y = hourglass(x)
            outputs.append(head(y))
            if i < len(self.back_features):
                x = x + self.back_features[i](y)
        return outputs
# wrong: next_stack_gets_only_the_remapped_output -> test_stacked
# cell: stacked
class Stacked(nn.Module):
    def __init__(self, num_stacks, channels, joints, depth):
        super().__init__()
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, joints, 1) for _ in range(num_stacks))
        self.back_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(num_stacks - 1))

    def forward(self, x):
        outputs = []
        for i, (hourglass, head) in enumerate(zip(self.hourglasses, self.heads)):
            y = hourglass(x)
            outputs.append(head(y))
            if i < len(self.back_features):
                x = self.back_features[i](y) + self.back_heatmaps[i](outputs[-1])
        return outputs
# wrong: one_head_shared_by_all_stacks -> test_stacked
# cell: stacked
class Stacked(nn.Module):
    def __init__(self, num_stacks, channels, joints, depth):
        super().__init__()
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.head = nn.Conv2d(channels, joints, 1)
        self.back_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(num_stacks - 1))

    def forward(self, x):
        outputs = []
        for i, hourglass in enumerate(self.hourglasses):
            y = hourglass(x)
            outputs.append(self.head(y))
            if i < len(self.back_features):
                x = x + self.back_features[i](y) + self.back_heatmaps[i](outputs[-1])
        return outputs
# wrong: only_the_last_stack_returned -> test_stacked
# cell: stacked
class Stacked(nn.Module):
    def __init__(self, num_stacks, channels, joints, depth):
        super().__init__()
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, joints, 1) for _ in range(num_stacks))
        self.back_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.back_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(num_stacks - 1))

    def forward(self, x):
        for i, (hourglass, head) in enumerate(zip(self.hourglasses, self.heads)):
            y = hourglass(x)
            h = head(y)
            if i < len(self.back_features):
                x = x + self.back_features[i](y) + self.back_heatmaps[i](h)
        return [h]
