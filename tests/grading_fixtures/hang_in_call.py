# Functions that never return (and ignore the worker's own alarm): each call is cut from outside.
# cell: normalize
import signal, time
signal.signal(signal.SIGALRM, signal.SIG_IGN)
def normalize(y, box):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        time.sleep(1)
denormalize = normalize
# cell: cascade
def cascade_target(y, x, torso, sigma):
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    signal.signal(signal.SIGPROF, signal.SIG_IGN)      # the worker's CPU-time alarm too: the grader's wall clock ends it
    while True:
        pass
