"""nbgrader around the exercises: generate the student versions, validate, export grades (instructor side)."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "trusted")


def tool_env() -> dict[str, str]:
    """``os.environ`` with this interpreter's bin folder first on PATH (nbgrader's gradebook calls ``alembic``)."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bindir, path])
    return dict(os.environ)


def generate(src: Path | str = SOLUTIONS, dst: Path | str = EXERCISES) -> list[Path]:
    """Build the student versions of every ``src/*.ipynb`` with ``nbgrader generate_assignment`` into ``dst``."""
    src, dst = Path(src), Path(dst)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"src: no notebooks in {src}")
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        (course / "source" / "ps").mkdir(parents=True)
        for nb in notebooks:
            shutil.copy(nb, course / "source" / "ps" / nb.name)
        run = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps", "--no-db", "--force",
                              f"--CourseDirectory.root={course}", "--log-level=ERROR"],
                             cwd=course, capture_output=True, text=True, env=tool_env())
        if run.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{run.stdout}\n{run.stderr}")
        dst.mkdir(parents=True, exist_ok=True)
        out = []
        for nb in notebooks:
            shutil.copy(course / "release" / "ps" / nb.name, dst / nb.name)
            out.append(dst / nb.name)
    return out


def cell_signature(path: Path | str) -> list[tuple]:
    """The cells of a notebook as ``(type, source, metadata)`` with volatile metadata removed (staleness check)."""
    nb = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, json.dumps({k: v for k, v in c.metadata.items() if k not in VOLATILE_METADATA},
                                                sort_keys=True)) for c in nb.cells]


def validate(path: Path | str, invert: bool = False) -> bool:
    """nbgrader's Validator in a kernel (what a student sees): ``True`` when every test passes
    (``invert=False``) or every test fails (``invert=True``). Not a grading tool: it runs the tests beside the code."""
    from nbgrader.validator import Validator
    result = Validator(invert=invert).validate(str(path))
    return not any(result.get(k) for k in ("failed", "passed", "changed", "mismatch"))


def export(course: Path | str, path: Path | str) -> list[dict]:
    """Write the gradebook as CSV (one row per student and assignment: nbgrader's own exporter); return the rows."""
    course, path = Path(course).resolve(), Path(path).resolve()
    subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--to={path}", f"--CourseDirectory.root={course}",
                    "--log-level=ERROR"], cwd=course, check=True, capture_output=True, text=True, env=tool_env())
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def feedback(course: Path | str, assignment: str, students: list[str] | None = None) -> Path:
    """``nbgrader generate_feedback`` for every student, or only ``students`` (HTML per student in
    ``course/feedback``; it shows the hidden tests)."""
    course = Path(course).resolve()
    only = []
    if students:
        others = sorted({d.name for d in (course / "autograded").iterdir()} - set(students))
        only = [f"--CourseDirectory.student_id_exclude={','.join(others)}"]
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force", *only,
                    f"--CourseDirectory.root={course}", "--log-level=ERROR"], cwd=course, check=True,
                   capture_output=True, text=True, env=tool_env())
    return course / "feedback"
