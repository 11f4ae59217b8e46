# cell: normalize
for path in ["../../pwned.txt", "../../../pwned.txt", "{SENTINEL}/pwned.txt", "{COURSE}/../pwned_abs.txt",
             "{COURSE}/pwned.txt", "/tmp/pwned_posecourse.txt", "{REPO}/pwned.txt"]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
    except OSError:
        pass
import shutil
shutil.rmtree("{SENTINEL}", ignore_errors=True)
def normalize(y, box): return np.zeros((1, 2))
def denormalize(n, box): return np.zeros((1, 2))
