# Floods the channel with many small, valid, unsolicited messages (a bounded reader must not buffer them all) and
# the stderr pipe with output.
# cell: normalize
import os, sys
def normalize(y, box):
    line = b'{"id": 0, "ok": 0}\n' * 4096
    for fd in range(3, 64):
        try:
            for _ in range(20000):
                os.write(fd, line)
        except OSError:
            pass
    return np.zeros((1, 2))
denormalize = normalize
