# The ex03 baseline: an honest attempt with typical mistakes (ReLU after the addition, average pooling, the loss
# averaged over every joint, the head box read as corners). Every ex03 cheat must score no more than this.
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
# cell: stacked_loss
def stacked_loss(outputs, target, visible):
    return sum(((o - target) ** 2).mean() for o in outputs)
# cell: pckh
def pckh(pred, gt, visible, head_boxes, alpha=0.5):
    pred, gt, boxes = np.asarray(pred, float), np.asarray(gt, float), np.asarray(head_boxes, float)
    head = 0.6 * np.linalg.norm(boxes[:, 2:] - boxes[:, :2], axis=-1)
    vis = np.asarray(visible) > 0
    hit = (np.linalg.norm(pred - gt, axis=-1) <= alpha * head[:, None]) & vis
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(0) / vis.sum(0)
