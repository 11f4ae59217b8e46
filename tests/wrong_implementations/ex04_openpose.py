# wrong: channels_y_then_x -> test_limb_paf
# cell: limb_paf
def limb_paf(j1, j2, height, width, limb_width):
    j1, j2 = np.asarray(j1, dtype=float), np.asarray(j2, dtype=float)
    length = np.linalg.norm(j2 - j1)
    v = (j2 - j1) / length
    ys, xs = np.mgrid[0:height, 0:width]
    dx, dy = xs - j1[0], ys - j1[1]
    along = v[0] * dx + v[1] * dy
    across = -v[1] * dx + v[0] * dy
    on = (along >= 0) & (along <= length) & (np.abs(across) <= limb_width)
    return v[::-1, None, None] * on[None]
# wrong: width_boundary_excluded -> test_limb_paf
# cell: limb_paf
def limb_paf(j1, j2, height, width, limb_width):
    j1, j2 = np.asarray(j1, dtype=float), np.asarray(j2, dtype=float)
    length = np.linalg.norm(j2 - j1)
    v = (j2 - j1) / length
    ys, xs = np.mgrid[0:height, 0:width]
    dx, dy = xs - j1[0], ys - j1[1]
    along = v[0] * dx + v[1] * dy
    across = -v[1] * dx + v[0] * dy
    on = (along >= 0) & (along <= length) & (np.abs(across) < limb_width)
    return v[:, None, None] * on[None]
# wrong: ends_excluded -> test_limb_paf
# cell: limb_paf
def limb_paf(j1, j2, height, width, limb_width):
    j1, j2 = np.asarray(j1, dtype=float), np.asarray(j2, dtype=float)
    length = np.linalg.norm(j2 - j1)
    v = (j2 - j1) / length
    ys, xs = np.mgrid[0:height, 0:width]
    dx, dy = xs - j1[0], ys - j1[1]
    along = v[0] * dx + v[1] * dy
    across = -v[1] * dx + v[0] * dy
    on = (along > 0) & (along < length) & (np.abs(across) <= limb_width)
    return v[:, None, None] * on[None]
# wrong: grid_indexed_x_y -> test_limb_paf
# cell: limb_paf
def limb_paf(j1, j2, height, width, limb_width):
    j1, j2 = np.asarray(j1, dtype=float), np.asarray(j2, dtype=float)
    length = np.linalg.norm(j2 - j1)
    v = (j2 - j1) / length
    xs, ys = np.mgrid[0:width, 0:height]
    dx, dy = xs - j1[0], ys - j1[1]
    along = v[0] * dx + v[1] * dy
    across = -v[1] * dx + v[0] * dy
    on = (along >= 0) & (along <= length) & (np.abs(across) <= limb_width)
    return v[:, None, None] * on[None]
# wrong: not_clipped -> test_line_integral
# cell: line_integral
def line_integral(paf, d1, d2, n=10):
    paf = np.asarray(paf, dtype=float)
    d1, d2 = np.asarray(d1, dtype=float), np.asarray(d2, dtype=float)
    u = np.linspace(0.0, 1.0, n)[:, None]
    p = np.rint((1 - u) * d1 + u * d2).astype(int)
    x, y = p[:, 0], p[:, 1]
    direction = (d2 - d1) / np.linalg.norm(d2 - d1)
    return float((paf[:, y, x].T @ direction).mean())
# wrong: sum_not_mean -> test_line_integral
# cell: line_integral
def line_integral(paf, d1, d2, n=10):
    paf = np.asarray(paf, dtype=float)
    d1, d2 = np.asarray(d1, dtype=float), np.asarray(d2, dtype=float)
    u = np.linspace(0.0, 1.0, n)[:, None]
    p = np.rint((1 - u) * d1 + u * d2).astype(int)
    x = np.clip(p[:, 0], 0, paf.shape[2] - 1); y = np.clip(p[:, 1], 0, paf.shape[1] - 1)
    direction = (d2 - d1) / np.linalg.norm(d2 - d1)
    return float((paf[:, y, x].T @ direction).sum())
# wrong: direction_not_normalised -> test_line_integral
# cell: line_integral
def line_integral(paf, d1, d2, n=10):
    paf = np.asarray(paf, dtype=float)
    d1, d2 = np.asarray(d1, dtype=float), np.asarray(d2, dtype=float)
    u = np.linspace(0.0, 1.0, n)[:, None]
    p = np.rint((1 - u) * d1 + u * d2).astype(int)
    x = np.clip(p[:, 0], 0, paf.shape[2] - 1); y = np.clip(p[:, 1], 0, paf.shape[1] - 1)
    direction = d2 - d1
    return float((paf[:, y, x].T @ direction).mean())
# wrong: field_indexed_x_y -> test_line_integral
# cell: line_integral
def line_integral(paf, d1, d2, n=10):
    paf = np.asarray(paf, dtype=float)
    d1, d2 = np.asarray(d1, dtype=float), np.asarray(d2, dtype=float)
    u = np.linspace(0.0, 1.0, n)[:, None]
    p = np.rint((1 - u) * d1 + u * d2).astype(int)
    x = np.clip(p[:, 0], 0, paf.shape[2] - 1); y = np.clip(p[:, 1], 0, paf.shape[1] - 1)
    direction = (d2 - d1) / np.linalg.norm(d2 - d1)
    return float((paf[:, np.clip(x, 0, paf.shape[1] - 1), np.clip(y, 0, paf.shape[2] - 1)].T @ direction).mean())
# wrong: returns_an_array -> test_line_integral
# cell: line_integral
def line_integral(paf, d1, d2, n=10):
    paf = np.asarray(paf, dtype=float)
    d1, d2 = np.asarray(d1, dtype=float), np.asarray(d2, dtype=float)
    u = np.linspace(0.0, 1.0, n)[:, None]
    p = np.rint((1 - u) * d1 + u * d2).astype(int)
    x = np.clip(p[:, 0], 0, paf.shape[2] - 1); y = np.clip(p[:, 1], 0, paf.shape[1] - 1)
    direction = (d2 - d1) / np.linalg.norm(d2 - d1)
    return (paf[:, y, x].T @ direction).mean(keepdims=True)
# wrong: threshold_inclusive -> test_greedy_match
# cell: greedy_match
def greedy_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, axis=None, kind="stable")
    used_i, used_j, pairs = set(), set(), []
    for i, j in zip(*np.unravel_index(order, scores.shape)):
        if scores[i, j] < threshold:
            break
        if i not in used_i and j not in used_j:
            pairs.append((int(i), int(j))); used_i.add(i); used_j.add(j)
    return pairs
# wrong: columns_not_blocked -> test_greedy_match
# cell: greedy_match
def greedy_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, axis=None, kind="stable")
    used_i, used_j, pairs = set(), set(), []
    for i, j in zip(*np.unravel_index(order, scores.shape)):
        if scores[i, j] <= threshold:
            break
        if i not in used_i:
            pairs.append((int(i), int(j))); used_i.add(i); used_j.add(j)
    return pairs
# wrong: best_per_row -> test_greedy_match
# cell: greedy_match
def greedy_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    return [(i, int(np.argmax(row))) for i, row in enumerate(scores) if row.max() > threshold]
# wrong: maximum_cardinality_first -> test_optimal_match
# cell: optimal_match
def optimal_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return []
    usable = np.where(scores > threshold, scores, -1e6)
    best = None
    for cols in permutations(range(scores.shape[1]), min(scores.shape)):
        pairs = [(i, j) for i, j in zip(range(scores.shape[0]), cols) if usable[i, j] > -1e6]
        key = (len(pairs), sum(scores[i, j] for i, j in pairs))
        if best is None or key > best[0]:
            best = (key, pairs)
    return sorted(best[1])
# wrong: pairs_below_threshold_kept -> test_optimal_match
# cell: optimal_match
def optimal_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return []
    usable = np.where(scores > threshold, scores, 0.0)
    rows, cols = linear_sum_assignment(usable, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols)]
# wrong: minimises_instead -> test_optimal_match
# cell: optimal_match
def optimal_match(scores, threshold=0.0):
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0:
        return []
    usable = np.where(scores > threshold, scores, 0.0)
    rows, cols = linear_sum_assignment(usable, maximize=False)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if scores[i, j] > threshold]
# wrong: greedy_called_optimal -> test_optimal_match
# cell: optimal_match
def optimal_match(scores, threshold=0.0):
    return sorted(greedy_match(scores, threshold))
