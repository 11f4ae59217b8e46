# Files that would shadow modules the grader's root process and the worker import, were the submission folder on
# their sys.path: posecourse_tools.grading.sandbox (run as root before the privileges drop) and numpy / IPython.
# file: posecourse_tools/__init__.py
open("{COURSE}/pwned.txt", "w").write("the sandbox ran the student's package as root")
# file: posecourse_tools/grading/__init__.py
open("{COURSE}/pwned.txt", "w").write("the sandbox ran the student's package as root")
# file: posecourse_tools/grading/sandbox.py
open("{COURSE}/pwned.txt", "w").write("the sandbox ran the student's sandbox.py as root")
# file: posecourse_tools/grading/worker.py
import sys, json
print(json.dumps({"hello": {"uid": 0}}), flush=True)
# file: numpy.py
raise ImportError("the student's numpy.py shadows numpy")
# file: IPython/__init__.py
raise ImportError("the student's IPython shadows IPython")
