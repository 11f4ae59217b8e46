# The worker stops itself (SIGSTOP) when called: the grader's deadline still fires, and the next student is fine.
# cell: normalize
import os, signal
def normalize(y, box):
    os.kill(os.getpid(), signal.SIGSTOP)
    return np.zeros((1, 2))
denormalize = normalize
