# wrong: bilinear_upsampling -> test_exchange_unit
# cell: exchange_unit
class ExchangeUnit(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = list(channels)
        self.paths = nn.ModuleList()
        for k, ck in enumerate(self.channels):
            row = nn.ModuleList()
            for i, ci in enumerate(self.channels):
                if i == k:
                    row.append(nn.Identity())
                elif i > k:
                    row.append(nn.Sequential(nn.Upsample(scale_factor=2 ** (i - k), mode="bilinear"),
                                             nn.Conv2d(ci, ck, 1, bias=False)))
                else:
                    steps = [nn.Conv2d(ci, ci, 3, stride=2, padding=1, bias=False) for _ in range(k - i - 1)]
                    row.append(nn.Sequential(*steps, nn.Conv2d(ci, ck, 3, stride=2, padding=1, bias=False)))
            self.paths.append(row)

    def forward(self, xs):
        return [sum(path(x) for path, x in zip(row, xs)) for row in self.paths]
# wrong: one_strided_conv_for_several_steps -> test_exchange_unit
# cell: exchange_unit
class ExchangeUnit(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = list(channels)
        self.paths = nn.ModuleList()
        for k, ck in enumerate(self.channels):
            row = nn.ModuleList()
            for i, ci in enumerate(self.channels):
                if i == k:
                    row.append(nn.Identity())
                elif i > k:
                    row.append(nn.Sequential(nn.Upsample(scale_factor=2 ** (i - k), mode="nearest"),
                                             nn.Conv2d(ci, ck, 1, bias=False)))
                else:
                    row.append(nn.Conv2d(ci, ck, 3, stride=2 ** (k - i), padding=1, bias=False))
            self.paths.append(row)

    def forward(self, xs):
        return [sum(path(x) for path, x in zip(row, xs)) for row in self.paths]
# wrong: convolutions_with_bias -> test_exchange_unit
# cell: exchange_unit
class ExchangeUnit(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = list(channels)
        self.paths = nn.ModuleList()
        for k, ck in enumerate(self.channels):
            row = nn.ModuleList()
            for i, ci in enumerate(self.channels):
                if i == k:
                    row.append(nn.Identity())
                elif i > k:
                    row.append(nn.Sequential(nn.Upsample(scale_factor=2 ** (i - k), mode="nearest"),
                                             nn.Conv2d(ci, ck, 1, bias=True)))
                else:
                    steps = [nn.Conv2d(ci, ci, 3, stride=2, padding=1, bias=True) for _ in range(k - i - 1)]
                    row.append(nn.Sequential(*steps, nn.Conv2d(ci, ck, 3, stride=2, padding=1, bias=True)))
            self.paths.append(row)

    def forward(self, xs):
        return [sum(path(x) for path, x in zip(row, xs)) for row in self.paths]
# wrong: downsampling_by_pooling -> test_exchange_unit
# cell: exchange_unit
class ExchangeUnit(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = list(channels)
        self.paths = nn.ModuleList()
        for k, ck in enumerate(self.channels):
            row = nn.ModuleList()
            for i, ci in enumerate(self.channels):
                if i == k:
                    row.append(nn.Identity())
                elif i > k:
                    row.append(nn.Sequential(nn.Upsample(scale_factor=2 ** (i - k), mode="nearest"),
                                             nn.Conv2d(ci, ck, 1, bias=False)))
                else:
                    row.append(nn.Sequential(nn.MaxPool2d(2 ** (k - i)), nn.Conv2d(ci, ck, 1, bias=False)))
            self.paths.append(row)

    def forward(self, xs):
        return [sum(path(x) for path, x in zip(row, xs)) for row in self.paths]
# wrong: a_tuple_not_a_list -> test_exchange_unit
# cell: exchange_unit
class ExchangeUnit(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.channels = list(channels)
        self.paths = nn.ModuleList()
        for k, ck in enumerate(self.channels):
            row = nn.ModuleList()
            for i, ci in enumerate(self.channels):
                if i == k:
                    row.append(nn.Identity())
                elif i > k:
                    row.append(nn.Sequential(nn.Upsample(scale_factor=2 ** (i - k), mode="nearest"),
                                             nn.Conv2d(ci, ck, 1, bias=False)))
                else:
                    steps = [nn.Conv2d(ci, ci, 3, stride=2, padding=1, bias=False) for _ in range(k - i - 1)]
                    row.append(nn.Sequential(*steps, nn.Conv2d(ci, ck, 3, stride=2, padding=1, bias=False)))
            self.paths.append(row)

    def forward(self, xs):
        return tuple(sum(path(x) for path, x in zip(row, xs)) for row in self.paths)
# wrong: k_equals_sigma -> test_oks
# cell: oks
def oks(pred, gt, visible, area, sigmas):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, k = np.asarray(visible) > 0, np.asarray(sigmas, dtype=float)
    if not visible.any():
        return 0.0
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * area * k ** 2))[visible].mean())
# wrong: area_squared -> test_oks
# cell: oks
def oks(pred, gt, visible, area, sigmas):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, k = np.asarray(visible) > 0, 2 * np.asarray(sigmas, dtype=float)
    if not visible.any():
        return 0.0
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * area ** 2 * k ** 2))[visible].mean())
# wrong: only_visible_code_2 -> test_oks
# cell: oks
def oks(pred, gt, visible, area, sigmas):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, k = np.asarray(visible) == 2, 2 * np.asarray(sigmas, dtype=float)
    if not visible.any():
        return 0.0
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * area * k ** 2))[visible].mean())
# wrong: mean_over_every_keypoint -> test_oks
# cell: oks
def oks(pred, gt, visible, area, sigmas):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, k = np.asarray(visible) > 0, 2 * np.asarray(sigmas, dtype=float)
    if not visible.any():
        return 0.0
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * area * k ** 2)).mean())
# wrong: without_the_two -> test_oks
# cell: oks
def oks(pred, gt, visible, area, sigmas):
    pred, gt = np.asarray(pred, dtype=float), np.asarray(gt, dtype=float)
    visible, k = np.asarray(visible) > 0, 2 * np.asarray(sigmas, dtype=float)
    if not visible.any():
        return 0.0
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.exp(-d2 / (area * k ** 2))[visible].mean())
