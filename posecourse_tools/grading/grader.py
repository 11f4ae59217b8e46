"""The trusted grader: runs every test cell (visible and hidden parts) in its own process, never the student's code.

For each student and notebook it starts a sandboxed worker (:mod:`.session`), sends it the student's code cells
(the locked cells come from the instructor's source, the graded test cells are never sent), and then executes each
graded test cell here, with every name the solution cells define bound to a :class:`StudentFunction`: calling one
sends the test's inputs to the worker, which calls the student's function and answers with plain data
(:mod:`.wire`); the asserts compare that data in this process. Points go into nbgrader's gradebook through its
Python API, written by this process after the student's worker is dead, in one commit per student.

Test cells may use student code only by calling it (``normalize(y, box)``) or by passing it to a helper from the
notebook's locked ``harness`` cell (``residual_report(Residual, ...)``), which runs in the worker and returns numbers.
"""
from __future__ import annotations

import ast
import builtins
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import notebooks
from .session import IsolationError, StudentError, Worker, WorkerFailed

MAX_NOTEBOOK = 20 * 2 ** 20


@dataclass
class SourceNotebook:
    """The instructor's notebook split by role: what runs where."""
    name: str
    cells: list = field(default_factory=list)           # the source cells, in order
    student_names: list[str] = field(default_factory=list)
    harness_names: list[str] = field(default_factory=list)

    @staticmethod
    def read(path: Path) -> "SourceNotebook":
        nb = nbformat.read(path, as_version=4)
        out = SourceNotebook(path.name, list(nb.cells))
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code":
                continue
            if meta.get("solution"):
                out.student_names += _defined_names(cell.source)
            elif meta.get("locked") and meta.get("grade_id", "").startswith("harness"):
                out.harness_names += _defined_names(cell.source)
        return out


def _role(cell) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if cell.cell_type != "code":
        return "text"
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution"):
        return "solution"
    if meta.get("locked"):
        return "harness" if meta.get("grade_id", "").startswith("harness") else "setup"
    return "student"


def _defined_names(source: str) -> list[str]:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


class StudentFunction:
    """Stands for a name the student defines; calling it runs the student's code in the worker."""

    def __init__(self, runner: "Runner", name: str):
        self._runner, self._name = runner, name

    def __call__(self, *args, **kwargs):
        return self._runner.call(self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<student's {self._name}>"


class Runner:
    """One student's notebook: the worker (restarted after a call that timed out) and the grader's namespace."""

    def __init__(self, course: Path, files: Path, cells: list[tuple[str, str]], opts: dict, deadline: float):
        self.course, self.files, self.cells, self.opts, self.deadline = course, files, cells, opts, deadline
        self.worker: Worker | None = None
        self.restarts, self.cell_errors, self.problem = 0, {}, None
        self.refs: dict[int, str] = {}

    def start(self) -> bool:
        if self.worker is not None:
            return True
        if self.restarts > self.opts["max_restarts"] or time.monotonic() >= self.deadline:
            return False
        self.restarts += 1
        try:
            self.worker = Worker(self.course, self.files, isolated=self.opts["isolated"],
                                 memory_mb=self.opts["memory_mb"], cpu_s=self.opts["wall_timeout"])
            self.cell_errors = self.worker.run_cells(self.cells, self.opts["cell_timeout"], self.deadline)
            return True
        except WorkerFailed as exc:
            self.problem = str(exc)
            self.stop()
            self.restarts = self.opts["max_restarts"] + 1   # the notebook itself does not run: no retry
            return False

    def call(self, name: str, args, kwargs):
        if self.worker is None:
            raise WorkerFailed(self.problem or "the worker is not running")
        try:
            return self.worker.call(name, args, kwargs, self.refs, self.opts["cell_timeout"], self.deadline)
        except WorkerFailed as exc:
            self.problem = str(exc)
            self.stop()
            raise

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _worker_cells(src: SourceNotebook, student_nb) -> list[tuple[str, str]]:
    """Code the worker runs: the student's cells in their order, locked cells replaced by the instructor's
    source, graded test cells left out (they never reach the worker); locked cells the student deleted first."""
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    seen, out = set(), []
    for i, cell in enumerate(student_nb.cells if student_nb is not None else []):
        if cell.cell_type != "code":
            continue
        gid = cell.metadata.get("nbgrader", {}).get("grade_id") if isinstance(cell.metadata.get("nbgrader"), dict) else None
        ref = source.get(gid)
        if ref is not None:
            seen.add(gid)
            role = _role(ref)
            if role == "test":
                continue
            out.append((gid, ref.source if role in ("setup", "harness") else str(cell.source)))
        elif not (isinstance(cell.metadata.get("nbgrader"), dict) and cell.metadata["nbgrader"].get("grade")):
            out.append((f"cell{i}", str(cell.source)))
    missing = [(gid, c.source) for gid, c in source.items() if gid not in seen and _role(c) in ("setup", "harness")]
    return missing + out


def _failure_message(exc: BaseException, test_source: str, grade_id: str) -> str:
    line = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == f"<{grade_id}>" and frame.lineno:
            line = test_source.splitlines()[frame.lineno - 1].strip()
            break
    text = str(exc) if isinstance(exc, (AssertionError, StudentError, WorkerFailed)) else f"{type(exc).__name__}: {exc}"
    head = "AssertionError" if isinstance(exc, AssertionError) else type(exc).__name__
    return f"{head}: {text or 'assertion failed'}" + (f"\n  in: {line}" if line else "")


def grade_notebook(course: Path, src: SourceNotebook, submitted: Path, files: Path, opts: dict,
                   deadline: float) -> tuple[dict, dict, list]:
    """Grade one notebook. Returns ``({grade_id: passed}, {grade_id: message}, notes)``."""
    tests = [c for c in src.cells if _role(c) == "test"]
    student_nb, notes = None, []
    try:
        if submitted.stat().st_size > MAX_NOTEBOOK:
            raise ValueError(f"larger than {MAX_NOTEBOOK // 2 ** 20} MB")
        student_nb = nbformat.read(submitted, as_version=4)
    except Exception as exc:  # noqa: BLE001 - a missing or broken notebook scores 0
        notes.append(f"{src.name}: could not read the submission ({exc})")
        return {c.metadata.nbgrader.grade_id: False for c in tests}, {}, notes
    runner = Runner(course, files, _worker_cells(src, student_nb), opts, deadline)
    ns = {"__name__": "__grader__", "__builtins__": builtins}
    for cell in src.cells:
        if _role(cell) == "setup":
            exec(compile(cell.source, f"<{cell.metadata.nbgrader.grade_id}>", "exec"), ns)  # instructor code
    proxies = {n: StudentFunction(runner, n) for n in src.student_names + src.harness_names}
    runner.refs = {id(p): n for n, p in proxies.items()}
    passed, messages = {}, {}
    try:
        for cell in tests:
            gid = cell.metadata.nbgrader.grade_id
            ns.update(proxies)
            if not runner.start():
                passed[gid], messages[gid] = False, f"not run: {runner.problem or 'no time left'}"
                continue
            try:
                exec(compile(cell.source, f"<{gid}>", "exec"), ns)
                passed[gid] = True
            except Exception as exc:  # noqa: BLE001 - any failure of the test is 0 points for it
                passed[gid], messages[gid] = False, _failure_message(exc, cell.source, gid)
    finally:
        runner.stop()
    notes += [f"{src.name}: cell {k}: {v}" for k, v in runner.cell_errors.items()]
    return passed, messages, notes


def write_autograded(path: Path, src: SourceNotebook, student_nb_path: Path, messages: dict, notes: list) -> None:
    """The notebook ``nbgrader generate_feedback`` renders: student's cells, instructor's locked cells, and test
    outputs written by the grader (never the worker's outputs)."""
    try:
        nb = nbformat.read(student_nb_path, as_version=4)
    except Exception:  # noqa: BLE001
        nb = nbformat.v4.new_notebook()
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    cells, seen = [], set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata.get("nbgrader"), dict) else {}
        ref = source.get(meta.get("grade_id"))
        if ref is not None and _role(ref) != "solution":
            cell = nbformat.from_dict(dict(ref))
        seen.add(meta.get("grade_id"))
        cells.append(cell)
    cells += [nbformat.from_dict(dict(c)) for gid, c in source.items() if gid not in seen and _role(c) != "solution"]
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in messages:
                cell.outputs = [nbformat.v4.new_output("error", ename="TestFailed", evalue=messages[gid],
                                                       traceback=messages[gid].splitlines())]
    if notes:
        cells.append(nbformat.v4.new_markdown_cell("**Grader notes**\n\n" + "\n".join(
            f"    {line}" for note in notes for line in note[:2000].splitlines())))
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _commit(gb, assignment: str, student: str, grades: dict[str, dict[str, bool]]) -> None:
    """Set every grade of one student and commit once (nbgrader's SaveAutoGrades rules for manual review)."""
    for nb_name, cells in grades.items():
        for gid, ok in cells.items():
            grade = gb.find_grade(gid, nb_name.removesuffix(".ipynb"), assignment, student)
            grade.auto_score = float(grade.max_score) if ok else 0.0
            grade.needs_manual_grade = grade.manual_score is not None
    gb.db.commit()


def autograde(course: Path | str, assignment: str, students: list[str] | None = None, cell_timeout: int = 15,
              wall_timeout: int = 240, unsafe_no_isolation: bool = False, memory_mb: int = 4096,
              max_restarts: int = 2, log=print) -> dict[str, str]:
    """Grade every submission of ``assignment`` (nbgrader course layout). Returns ``{student: status}``.

    Raises :class:`IsolationError` (before grading anyone) when the sandbox cannot be set up, unless
    ``unsafe_no_isolation`` (trusted submissions only: the worker then runs as this user, unconfined).
    """
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc
    notebooks.tool_env()
    course = Path(course).resolve()
    if not (course / "source" / assignment).is_dir():
        raise ValueError(f"assignment: no folder {course / 'source' / assignment}")
    submitted = course / "submitted"
    students = sorted(students or [d.name for d in submitted.iterdir() if (d / assignment).is_dir()])
    opts = dict(isolated=not unsafe_no_isolation, cell_timeout=cell_timeout, wall_timeout=wall_timeout,
                memory_mb=memory_mb, max_restarts=max_restarts)
    if unsafe_no_isolation:
        print("WARNING: --unsafe-no-isolation: student code runs unconfined as this user; trusted submissions only",
              file=sys.stderr)
    else:
        try:                                   # IsolationError (with the reason) before anyone is graded
            Worker(course, None, isolated=True, start_timeout=120).close()
        except WorkerFailed as exc:
            raise IsolationError(f"the sandbox did not start: {exc}") from None
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        for s in students:
            gb.update_or_create_student(s)
            stamp = submitted / s / assignment / "timestamp.txt"
            kw = {"timestamp": parse_utc(stamp.read_text().strip())} if stamp.is_file() else {}
            gb.update_or_create_submission(assignment, s, **kw)
    sources = [SourceNotebook.read(course / "source" / assignment / f"{n}.ipynb") for n in names]
    status = {}
    for s in students:
        deadline, folder = time.monotonic() + wall_timeout, submitted / s / assignment
        grades, state = {}, "ok"
        for src in sources:
            passed, messages, notes = grade_notebook(course, src, folder / src.name, folder, opts, deadline)
            grades[src.name] = passed
            write_autograded(course / "autograded" / s / assignment / src.name, src, folder / src.name,
                             messages, notes)
            bad = [m for m in messages.values() if m.startswith(("WorkerFailed", "not run"))]
            if bad and state == "ok":
                state = "error: " + bad[0].splitlines()[0]
        with Gradebook(db) as gb:
            _commit(gb, assignment, s, grades)
        status[s] = state
        log(f"{s}: {state}")
    return status


__all__ = ["autograde", "IsolationError"]
