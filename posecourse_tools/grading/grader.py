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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import notebooks
from .session import ISOLATION_HELP, IsolationError, StudentError, Worker, WorkerFailed

MAX_NOTEBOOK = 20 * 2 ** 20


@dataclass
class SourceNotebook:
    """The instructor's notebook split by role: what runs where."""
    name: str
    cells: list = field(default_factory=list)           # the source cells, in order
    student_names: list[str] = field(default_factory=list)
    harness_names: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @staticmethod
    def read(path: Path) -> "SourceNotebook":
        nb = nbformat.read(path, as_version=4)
        out = SourceNotebook(path.name, list(nb.cells), metadata=dict(nb.metadata))
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


def _grade_id(cell) -> str | None:
    """The nbgrader grade id of a (possibly malformed, student-edited) cell, or None."""
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def read_submission(path: Path):
    """The student's notebook, or raise ValueError: a plain file (no symlink, FIFO or device), size-capped."""
    if path.is_symlink() or not path.is_file():
        raise ValueError(f"{path.name} is missing or not a regular file")
    if path.stat().st_size > MAX_NOTEBOOK:
        raise ValueError(f"larger than {MAX_NOTEBOOK // 2 ** 20} MB")
    nb = nbformat.reads(path.read_bytes()[:MAX_NOTEBOOK].decode("utf-8", errors="replace"), as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("no list of cells")
    nb.cells = [c for c in nb.cells if isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw")
                and isinstance(c.get("source", ""), str)]
    return nb


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
        if cell.get("cell_type") != "code":
            continue
        gid = _grade_id(cell)
        ref = source.get(gid)
        if ref is not None:
            seen.add(gid)
            role = _role(ref)
            if role == "test":
                continue
            out.append((gid, ref.source if role in ("setup", "harness") else str(cell.get("source", ""))))
        elif gid is None:
            out.append((f"cell{i}", str(cell.get("source", ""))))
    missing = [(gid, c.source) for gid, c in source.items() if gid not in seen and _role(c) in ("setup", "harness")]
    return missing + out


def _failure_message(exc: BaseException, test_source: str, grade_id: str) -> str:
    line = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == f"<{grade_id}>" and frame.lineno:
            line = test_source.splitlines()[frame.lineno - 1].strip()
            break
    return f"{type(exc).__name__}: {str(exc) or 'assertion failed'}" + (f"\n  in: {line}" if line else "")


def grade_notebook(course: Path, src: SourceNotebook, student_nb, files: Path, opts: dict,
                   deadline: float) -> tuple[dict, dict, list]:
    """Grade one notebook. Returns ``({grade_id: passed}, {grade_id: message}, notes)``."""
    tests = [c for c in src.cells if _role(c) == "test"]
    notes = []
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


def write_autograded(path: Path, src: SourceNotebook, student_nb, messages: dict, notes: list) -> None:
    """The notebook ``nbgrader generate_feedback`` renders: student's cells, instructor's locked cells, and test
    outputs written by the grader (never the worker's outputs, which are dropped)."""
    nb = nbformat.v4.new_notebook(metadata=dict(src.metadata))
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    cells, seen = [], set()
    for cell in student_nb.cells if student_nb is not None else []:
        gid = _grade_id(cell)
        ref = source.get(gid)
        if ref is not None and _role(ref) != "solution":
            cell = nbformat.from_dict(dict(ref))
        elif ref is not None:              # the student's answer under the instructor's metadata
            cell = nbformat.from_dict({**dict(ref), "source": str(cell.get("source", ""))})
        else:                              # a cell of the student's own: text only
            kind = cell.get("cell_type")
            make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
            cell = make(str(cell.get("source", "")))
        seen.add(gid)
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
    """Set every grade cell of one student (0 where no test passed) and commit once (nbgrader's
    SaveAutoGrades rule: a manual score means the cell needs review)."""
    for notebook in gb.find_assignment(assignment).notebooks:
        passed = grades.get(f"{notebook.name}.ipynb", {})
        for cell in notebook.grade_cells:
            grade = gb.find_grade(cell.name, notebook.name, assignment, student)
            grade.auto_score = float(grade.max_score) if passed.get(cell.name) else 0.0
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
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's own add_submission triggers these
    notebooks.tool_env()
    course = Path(course).resolve()
    if not (course / "source" / assignment).is_dir():
        raise ValueError(f"assignment: no folder {course / 'source' / assignment}")
    submitted = course / "submitted"
    students = sorted(students or [d.name for d in submitted.iterdir() if not d.is_symlink()
                                   and (d / assignment).is_dir() and not (d / assignment).is_symlink()])
    opts = dict(isolated=not unsafe_no_isolation, cell_timeout=cell_timeout, wall_timeout=wall_timeout,
                memory_mb=memory_mb, max_restarts=max_restarts)
    if unsafe_no_isolation:
        print("WARNING: --unsafe-no-isolation: student code runs unconfined as this user; trusted submissions only",
              file=sys.stderr)
    else:
        try:                                   # IsolationError (with the reason) before anyone is graded
            Worker(course, None, isolated=True, start_timeout=120).close()
        except WorkerFailed as exc:
            raise IsolationError(f"the sandbox did not start: {exc}; {ISOLATION_HELP}") from None
    db = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        for s in students:
            gb.update_or_create_student(s)
            stamp = submitted / s / assignment / "timestamp.txt"
            kw = {}
            if stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size < 200:
                try:
                    kw["timestamp"] = parse_utc(stamp.read_text().strip())
                except ValueError:
                    log(f"{s}: ignoring an unreadable timestamp.txt")
            gb.update_or_create_submission(assignment, s, **kw)
    sources = [SourceNotebook.read(course / "source" / assignment / f"{n}.ipynb") for n in names]
    status = {}
    for s in students:
        deadline, folder = time.monotonic() + wall_timeout, submitted / s / assignment
        grades, state = {}, "ok"
        for src in sources:
            try:
                if folder.is_symlink() or folder.parent.is_symlink():
                    raise ValueError("the submission folder is a symbolic link")
                student_nb = read_submission(folder / src.name)
            except Exception as exc:  # noqa: BLE001 - a missing or broken notebook scores 0
                student_nb, passed, messages, notes = None, {}, {}, [f"could not read the submission ({exc})"]
            else:
                try:
                    passed, messages, notes = grade_notebook(course, src, student_nb, folder, opts, deadline)
                except IsolationError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one odd submission never stops the others
                    passed, messages, notes = {}, {}, [f"the grader could not process it: {type(exc).__name__}: {exc}"]
            grades[src.name] = passed
            write_autograded(course / "autograded" / s / assignment / src.name, src, student_nb, messages, notes)
            bad = [m for m in messages.values() if m.startswith(("WorkerFailed", "not run"))] + \
                  [n for n in notes if n.startswith(("could not", "the grader"))]
            if bad and state == "ok":
                state = "error: " + bad[0].splitlines()[0]
        with Gradebook(db) as gb:
            _commit(gb, assignment, s, grades)
        status[s] = state
        log(f"{s}: {state}")
    return status


__all__ = ["autograde", "IsolationError"]
