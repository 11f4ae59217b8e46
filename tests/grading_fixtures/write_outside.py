# cell: normalize
for path in ["../../pwned.txt", "../../../pwned.txt", "{SENTINEL}/pwned.txt", "{COURSE}/../pwned_abs.txt",
             "/tmp/pwned_posecourse.txt"]:
    try:
        with open(path, "w") as f:
            f.write("pwned")
    except OSError:
        pass
import shutil
shutil.rmtree("{SENTINEL}", ignore_errors=True)
