# cell: normalize
import sys
for _ in range(100):
    sys.stdout.write("x" * 1_000_000)
def normalize(y, box):
    sys.stderr.write("y" * 100_000_000)
    return np.zeros((1, 2))
denormalize = normalize
