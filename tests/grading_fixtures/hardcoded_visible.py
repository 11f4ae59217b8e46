# Hard-codes the answers of the visible tests (they are in the student's notebook), keyed on their inputs: the
# visible checks pass, the hidden checks (fresh inputs every run) must fail.
# cell: normalize
def normalize(y, box):
    return np.array([[-0.4, -0.1], [0.5, -0.5], [0.0, 0.0]])
def denormalize(n, box):
    return np.array([[95.0, 60.0], [20.0, 40.0]])
# cell: cascade
def cascade_target(y, x, torso, sigma):
    return (np.array([[9.5, 7.5, 5, 5], [17.5, 9.5, 5, 5], [11.5, 17.5, 5, 5]]),
            np.array([[-0.4, 0.0], [0.0, -0.4], [-0.8, 2.0]]))
def refine(x, d, boxes): return np.array([[17.0, 9.0], [30.0, 17.0], [13.0, 22.0]])
# cell: pdj
def pdj(pred, gt, torso, frac=0.2): return np.array([1.0, 0.5, 0.5])
