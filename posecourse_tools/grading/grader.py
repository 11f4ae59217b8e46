"""The trusted grader: runs every test cell (visible and hidden parts) in its own process, never the student's code.

For each student and notebook it starts a sandboxed worker (:mod:`.session`), sends it the instructor's setup
cells and then the student's code cells (locked harness and test cells are never sent), and executes the locked
``harness`` cell and each graded test cell here, with every name the solution cells define bound to a stand-in:
a :class:`StudentFunction` (calling it sends the test's inputs to the worker, which calls the student's function
and answers with plain data, :mod:`.wire`) or a :class:`StudentClass` (its objects live in the worker and answer
only the few module methods of :class:`RemoteModule`). The harness's ``value_and_grads`` is replaced by
:func:`remote_value_and_grads` and ``SEED`` by this run's seed for the notebook. Every comparison runs here, on the
student's raw outputs. Points go into nbgrader's gradebook through its Python API, written by this process after
the student's worker is dead, in one commit per student; nbgrader's late penalty follows.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import secrets
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import notebooks
from .session import ISOLATION_HELP, IsolationError, StudentError, Worker, WorkerFailed, wall_limit

MAX_NOTEBOOK = 20 * 2 ** 20


@dataclass
class SourceNotebook:
    """The instructor's notebook split by role: what runs where."""
    name: str
    cells: list = field(default_factory=list)           # the source cells, in order
    student_names: list[tuple[str, bool]] = field(default_factory=list)   # (name, is a class)
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


def _defined_names(source: str) -> list[tuple[str, bool]]:
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append((node.name, isinstance(node, ast.ClassDef)))
        elif isinstance(node, ast.Assign):
            names += [(t.id, False) for t in node.targets if isinstance(t, ast.Name)]
    return names


class StudentFunction:
    """Stands for a function the student defines; calling it runs the student's code in the worker and returns the
    student's raw output as fresh plain data."""

    def __init__(self, runner: "Runner", name: str):
        self._runner, self._name = runner, name

    def __call__(self, *args, **kwargs):
        return self._runner.request("call", self._name, args, kwargs)

    def __repr__(self) -> str:
        return f"<student's {self._name}>"


class StudentClass(StudentFunction):
    """Stands for a class the student defines (a ``torch.nn.Module``): calling it builds one in the worker and
    returns a :class:`RemoteModule` that stands for it here."""

    def __call__(self, *args, **kwargs):
        handle = self._runner.request("new", self._name, args, kwargs)
        if not isinstance(handle, int) or isinstance(handle, bool):
            raise StudentError(f"{self._name}(...) could not be built")
        return RemoteModule(self._runner, self._name, handle)


class RemoteModule:
    """The few ``nn.Module`` methods the notebooks' test helpers use, each answered with the student's raw data:
    ``m(x)``, ``eval()``, ``train()``, ``state_dict()``, ``parameters()``, ``load_state_dict(state)``."""

    def __init__(self, runner: "Runner", name: str, handle: int):
        self._runner, self._name, self._handle = runner, name, handle

    def _method(self, method: str, *args):
        return self._runner.request("method", method, args, {}, handle=self._handle, label=f"{self._name}.{method}")

    def __call__(self, *args):
        return self._method("forward", *args)

    def eval(self):
        self._method("eval")
        return self

    def train(self, mode: bool = True):
        self._method("train" if mode else "eval")
        return self

    def state_dict(self) -> dict:
        state = self._method("state_dict")
        if not isinstance(state, dict) or not all(_is_tensor(v) for v in state.values()):
            raise StudentError(f"{self._name}.state_dict() is not a dict of tensors")
        return state

    def parameters(self) -> list:
        params = self._method("parameters")
        if not isinstance(params, list) or not all(_is_tensor(v) for v in params):
            raise StudentError(f"{self._name}.parameters() is not a list of tensors")
        return params

    def load_state_dict(self, state: dict) -> None:
        self._method("load_state_dict", dict(state))

    def __repr__(self) -> str:
        return f"<student's {self._name} object>"


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter")


def remote_value_and_grads(fn, tensors, *rest):
    """The grader's ``value_and_grads`` (the notebooks' harness defines the same for a student's kernel):
    ``fn(tensors, *rest)`` and its gradient with respect to each of ``tensors`` (None where it has none), computed
    by the worker on copies of the grader's tensors; the grader checks both."""
    if not isinstance(fn, StudentFunction) or isinstance(fn, StudentClass):
        raise TypeError("value_and_grads: expected a student's function")
    result = fn._runner.request("grad", fn._name, (list(tensors), *rest), {})
    if not (isinstance(result, dict) and set(result) == {"value", "grads"} and isinstance(result["grads"], list)):
        raise StudentError(f"{fn._name}: the worker's answer is not a value and a list of gradients")
    return result["value"], result["grads"]


class Budget:
    """One student's wall-clock budget; time spent starting workers (not the student's doing) is given back."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds


class InfrastructureError(RuntimeError):
    """A worker that failed before any student code ran, again after retries: the instructor must look (and
    regrade); the student's grades for what it did not run are left for review, never set to 0."""


class Runner:
    """One student's notebook: the worker (restarted after a call that timed out) and the grader's namespace."""

    def __init__(self, course: Path, files: Path, setup: list[tuple[str, str]], cells: list[tuple[str, str]],
                 opts: dict, budget: Budget):
        self.course, self.files, self.setup, self.cells, self.opts = course, files, setup, cells, opts
        self.budget = budget
        self.worker: Worker | None = None
        self.restarts, self.cell_errors, self.problem, self.left_out = 0, {}, None, []
        self.infra: InfrastructureError | None = None

    def _start_worker(self) -> None:
        """A worker with the instructor's setup cells run: retried when it fails (nothing of the student's ran)."""
        began, last = time.monotonic(), None
        for attempt in range(self.opts["infra_retries"] + 1):
            try:
                self.worker = Worker(self.course, self.files, isolated=self.opts["isolated"],
                                     memory_mb=self.opts["memory_mb"], cpu_s=self.opts["wall_timeout"],
                                     start_timeout=self.opts["start_timeout"])
                self.left_out = self.worker.left_out
                errors = self.worker.run_cells(self.setup, self.opts["start_timeout"],
                                               time.monotonic() + wall_limit(self.opts["start_timeout"]), student=False)
                if errors:
                    raise WorkerFailed(f"the setup cells failed: {errors}", infra=True)
                self.budget.deadline += time.monotonic() - began
                return
            except (WorkerFailed, IsolationError) as exc:
                last = exc
                self.stop()
                time.sleep(min(10.0, 1.0 + 2.0 * attempt))
        self.budget.deadline += time.monotonic() - began
        self.infra = InfrastructureError(f"the worker did not start ({self.opts['infra_retries'] + 1} tries): {last}")
        raise self.infra

    def start(self) -> bool:
        if self.worker is not None:
            return True
        if self.infra is not None:          # tried already for this notebook: the instructor must look
            raise self.infra
        if self.restarts > self.opts["max_restarts"] or time.monotonic() >= self.budget.deadline:
            return False
        self.restarts += 1
        self._start_worker()
        try:
            self.cell_errors = self.worker.run_cells(self.cells, self.opts["cell_timeout"], self.budget.deadline)
            return True
        except WorkerFailed as exc:
            self.problem = str(exc)
            self.stop()
            self.restarts = self.opts["max_restarts"] + 1   # the notebook itself does not run: no retry
            return False

    def request(self, op: str, name: str, args, kwargs, handle: int | None = None, label: str | None = None):
        if self.worker is None:
            raise WorkerFailed(self.problem or "the worker is not running")
        try:
            return self.worker.call(name, args, kwargs, {}, self.opts["cell_timeout"], self.budget.deadline,
                                    op=op, handle=handle)
        except StudentError as exc:
            raise StudentError(str(exc).replace(f"{name}(...)", f"{label or name}(...)", 1)) from None
        except WorkerFailed as exc:
            self.problem = str(exc)
            self.stop()
            raise

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _worker_cells(src: SourceNotebook, student_nb) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Code the worker runs: first the instructor's setup cells (imports: before any student code), then the
    student's code cells in their order (solution cells with the student's answer, cells of the student's own).
    Locked harness and test cells never reach the worker: every check runs in the grader."""
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    setup = [(gid, c.source) for gid, c in source.items() if _role(c) == "setup"]
    out = []
    for i, cell in enumerate(student_nb.cells if student_nb is not None else []):
        if cell.get("cell_type") != "code":
            continue
        gid = _grade_id(cell)
        ref = source.get(gid)
        if ref is not None and _role(ref) != "solution":
            continue
        out.append((gid if ref is not None else f"cell{i}", str(cell.get("source", ""))))
    return setup, out


def _failure_message(exc: BaseException, test_source: str, grade_id: str) -> str:
    line, visible = "", len(test_source.split("### BEGIN HIDDEN TESTS")[0].splitlines())
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == f"<{grade_id}>" and frame.lineno:
            if frame.lineno <= visible:       # a hidden line is not shown: its message says what failed
                line = test_source.splitlines()[frame.lineno - 1].strip()
            break
    return f"{type(exc).__name__}: {str(exc) or 'assertion failed'}" + (f"\n  in: {line}" if line else "")


def notebook_seed(run_seed: int, assignment: str, notebook: str) -> int:
    """The hidden tests' seed for one notebook in one grading run (the run's seed is in the gradebook)."""
    digest = hashlib.sha256(f"{run_seed}:{assignment}:{notebook}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def grade_notebook(course: Path, src: SourceNotebook, student_nb, files: Path, opts: dict,
                   budget: Budget, seed: int = 0) -> tuple[dict, dict, list]:
    """Grade one notebook. Returns ``({grade_id: passed, or None when not graded (infrastructure)},
    {grade_id: message}, notes)``."""
    tests = [c for c in src.cells if _role(c) == "test"]
    notes = []
    setup, cells = _worker_cells(src, student_nb)
    runner = Runner(course, files, setup, cells, opts, budget)
    ns = {"__name__": "__grader__", "__builtins__": builtins}
    for cell in src.cells:
        if _role(cell) in ("setup", "harness"):     # instructor code, run here (the harness never in the worker)
            exec(compile(cell.source, f"<{cell.metadata.nbgrader.grade_id}>", "exec"), ns)
    grader_side = {"SEED": seed, "value_and_grads": remote_value_and_grads}
    proxies = {n: (StudentClass if is_class else StudentFunction)(runner, n) for n, is_class in src.student_names}
    passed, messages = {}, {}
    try:
        for cell in tests:
            gid = cell.metadata.nbgrader.grade_id
            ns.update(grader_side)
            ns.update(proxies)
            try:
                started = runner.start()
            except InfrastructureError as exc:
                passed[gid], messages[gid] = None, f"not graded: infrastructure error: {exc}"
                continue
            if not started:
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
    notes += [f"{src.name}: {line}" for line in runner.left_out]
    return passed, messages, notes


def _clean(text) -> str:
    """Any string from a submission or a worker, writable as UTF-8 (lone surrogates and the like replaced)."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def _visible_part(source: str) -> str:
    """A test cell as the autograded notebook and the feedback show it: the hidden part is not printed (its inputs
    are drawn afresh for every grading run; what failed is in the cell's output)."""
    if "### BEGIN HIDDEN TESTS" not in source:
        return source
    head = source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
    return head + "\n# hidden tests: run by the grader on inputs drawn for this grading run; failures are shown below"


def write_autograded(path: Path, src: SourceNotebook, student_nb, messages: dict, notes: list,
                     seed: int | None = None) -> None:
    """The notebook ``nbgrader generate_feedback`` renders: student's cells, instructor's locked cells (test cells
    without their hidden part), and test outputs written by the grader (never the worker's outputs, which are
    dropped). Every string from the submission is cleaned to valid UTF-8."""
    nb = nbformat.v4.new_notebook(metadata=dict(src.metadata))
    if seed is not None:
        nb.metadata["posecourse_grading"] = {"seed": seed}
    source = {c.metadata["nbgrader"]["grade_id"]: c for c in src.cells if c.metadata.get("nbgrader", {}).get("grade_id")}
    cells, seen = [], set()
    for cell in student_nb.cells if student_nb is not None else []:
        gid = _grade_id(cell)
        ref = source.get(gid)
        if ref is not None and _role(ref) != "solution":
            cell = nbformat.from_dict(dict(ref))
        elif ref is not None:              # the student's answer under the instructor's metadata
            cell = nbformat.from_dict({**dict(ref), "source": _clean(cell.get("source", ""))})
        else:                              # a cell of the student's own: text only
            kind = cell.get("cell_type")
            make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
            cell = make(_clean(cell.get("source", "")))
        seen.add(gid)
        cells.append(cell)
    cells += [nbformat.from_dict(dict(c)) for gid, c in source.items() if gid not in seen and _role(c) != "solution"]
    for cell in cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in source and _role(source[gid]) == "test":
                cell.source = _visible_part(source[gid].source)
            if gid in messages:
                text = _clean(messages[gid])[:4000]
                cell.outputs = [nbformat.v4.new_output("error", ename="TestFailed", evalue=text,
                                                       traceback=text.splitlines())]
    if notes:
        cells.append(nbformat.v4.new_markdown_cell("**Grader notes**\n\n" + "\n".join(
            f"    {line}" for note in notes for line in _clean(note)[:2000].splitlines())))
    nb.cells = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _commit(gb, assignment: str, student: str, grades: dict[str, dict[str, bool | None]], seed: int) -> None:
    """Set every grade cell of one student and commit once: points where the test passed, 0 where it failed or
    did not run, nothing (and flagged for review) where an infrastructure error kept it from being graded
    (nbgrader's SaveAutoGrades rule: a manual score also means the cell needs review). The run's seed goes into
    every solution cell's automatic comment, for regrading with ``--seed``."""
    for notebook in gb.find_assignment(assignment).notebooks:
        passed = grades.get(f"{notebook.name}.ipynb", {})
        for cell in notebook.grade_cells:
            grade = gb.find_grade(cell.name, notebook.name, assignment, student)
            verdict = passed.get(cell.name, False)
            if verdict is None:
                grade.auto_score, grade.needs_manual_grade = None, True
                continue
            grade.auto_score = float(grade.max_score) if verdict else 0.0
            grade.needs_manual_grade = grade.manual_score is not None
        for cell in notebook.solution_cells:
            try:
                comment = gb.find_comment(cell.name, notebook.name, assignment, student)
            except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: a cell without a comment row
                continue
            comment.auto_comment = f"autograded with seed {seed}"
    gb.db.commit()


def _nbgrader_config(course: Path):
    """The course's ``nbgrader_config.py`` / ``.json``, loaded as stock nbgrader loads it from the course root."""
    from traitlets.config import Config
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader
    config = Config()
    for name, loader in (("nbgrader_config.py", PyFileConfigLoader), ("nbgrader_config.json", JSONFileConfigLoader)):
        if (course / name).is_file():
            config.merge(loader(name, path=str(course)).load_config())
    return config


def _late_penalties(course: Path, db: str, assignment: str, student: str, notebooks: list[str], config) -> None:
    """nbgrader's own ``AssignLatePenalties`` (its plugin and settings from the course's config) on each notebook,
    exactly as ``nbgrader autograde`` runs it after saving the grades."""
    from nbgrader.preprocessors import AssignLatePenalties
    for name in notebooks:
        resources = {"nbgrader": {"notebook": name, "assignment": assignment, "student": student, "db_url": db}}
        AssignLatePenalties(config=config).preprocess(nbformat.v4.new_notebook(), resources)


def _record_submission(gb, course: Path, assignment: str, student: str, log) -> list[str]:
    """The student and submission rows, with the timestamp from ``timestamp.txt`` when it is a sane one."""
    from nbgrader.utils import parse_utc
    notes = []
    gb.update_or_create_student(student)
    stamp = course / "submitted" / student / assignment / "timestamp.txt"
    kw = {}
    if stamp.is_file() and not stamp.is_symlink():
        try:
            if stamp.stat().st_size > 200:
                raise ValueError("longer than 200 bytes")
            when = parse_utc(stamp.read_bytes().decode("utf-8").strip())
            if not 1970 < when.year < 2200:
                raise ValueError(f"year {when.year}")
            kw["timestamp"] = when
        except Exception as exc:  # noqa: BLE001 - ValueError, OverflowError, UnicodeError, parser errors...
            notes.append(f"timestamp.txt ignored (unreadable: {type(exc).__name__}: {exc})")
            log(_clean(f"{student}: ignoring an unreadable timestamp.txt"))
    gb.update_or_create_submission(assignment, student, **kw)
    return notes


def _grade_student(course: Path, db: str, assignment: str, student: str, sources: list, opts: dict,
                   seed: int, config, log) -> str:
    from nbgrader.api import Gradebook
    submitted = course / "submitted"
    with Gradebook(db) as gb:
        submission_notes = _record_submission(gb, course, assignment, student, log)
    budget, folder = Budget(opts["wall_timeout"]), submitted / student / assignment
    grades, state, infra = {}, "ok", None
    for src in sources:
        notes = list(submission_notes)
        try:
            if folder.is_symlink() or folder.parent.is_symlink():
                raise ValueError("the submission folder is a symbolic link")
            student_nb = read_submission(folder / src.name)
        except Exception as exc:  # noqa: BLE001 - a missing or broken notebook scores 0
            student_nb, passed, messages = None, {}, {}
            notes.append(f"could not read the submission ({exc})")
        else:
            try:
                passed, messages, more = grade_notebook(course, src, student_nb, folder, opts, budget,
                                                        seed=notebook_seed(seed, assignment, src.name))
                notes += more
            except Exception as exc:  # noqa: BLE001 - one odd submission never stops the others
                passed, messages = {}, {}
                notes.append(f"the grader could not process it: {type(exc).__name__}: {exc}")
        grades[src.name] = passed
        try:
            write_autograded(course / "autograded" / student / assignment / src.name, src, student_nb, messages,
                             notes, seed=seed)
        except Exception as exc:  # noqa: BLE001 - the grades still count; the notebook holds what could be written
            write_autograded(course / "autograded" / student / assignment / src.name, src, None, {},
                             [f"the autograded notebook could not be written in full ({type(exc).__name__})"], seed)
        infra = infra or next((m for m in messages.values() if m.startswith("not graded: infrastructure")), None)
        bad = [m for m in messages.values() if m.startswith(("WorkerFailed", "not run"))] + \
              [n for n in notes if n.startswith(("could not", "the grader")) or ": CellTimeout: " in n]
        if bad and state == "ok":
            state = "error: " + bad[0].splitlines()[0]
    with Gradebook(db) as gb:
        _commit(gb, assignment, student, grades, seed)
    _late_penalties(course, db, assignment, student, [Path(s.name).stem for s in sources], config)
    if infra:
        state = "infrastructure error: " + infra.split("infrastructure error: ", 1)[1].splitlines()[0] + \
                " (not graded: its cells are flagged for review; regrade this student)"
    return state


def autograde(course: Path | str, assignment: str, students: list[str] | None = None, cell_timeout: int = 15,
              wall_timeout: int = 240, unsafe_no_isolation: bool = False, memory_mb: int = 4096,
              max_restarts: int = 2, log=print, seed: int | None = None, start_timeout: float = 120.0,
              infra_retries: int = 2) -> dict[str, str]:
    """Grade every submission of ``assignment`` (nbgrader course layout). Returns ``{student: status}``: ``ok``,
    ``error: ...`` (the student's code failed to run in part) or ``infrastructure error: ...`` (not graded).

    ``seed`` draws the hidden tests' inputs (a fresh random one when None; it is recorded in the gradebook as
    every solution cell's automatic comment, so ``seed=`` regrades with the same inputs). ``cell_timeout`` is CPU
    seconds per cell and per call in the worker (the wall-clock limit is generous: a busy machine does not change a
    grade). Raises :class:`IsolationError` (before grading anyone) when the sandbox cannot be set up, unless
    ``unsafe_no_isolation`` (trusted submissions only: the worker then runs as this user, unconfined).
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)   # nbgrader's own add_submission triggers these
    notebooks.tool_env()
    course = Path(course).resolve()
    if not (course / "source" / assignment).is_dir():
        raise ValueError(f"assignment: no folder {course / 'source' / assignment}")
    if seed is None:
        seed = secrets.randbelow(2 ** 63)
    elif not isinstance(seed, int) or not 0 <= seed < 2 ** 63:
        raise ValueError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
    submitted = course / "submitted"
    students = sorted(students or [d.name for d in submitted.iterdir() if not d.is_symlink()
                                   and (d / assignment).is_dir() and not (d / assignment).is_symlink()])
    opts = dict(isolated=not unsafe_no_isolation, cell_timeout=cell_timeout, wall_timeout=wall_timeout,
                memory_mb=memory_mb, max_restarts=max_restarts, start_timeout=start_timeout,
                infra_retries=infra_retries)
    if unsafe_no_isolation:
        print("WARNING: --unsafe-no-isolation: student code runs unconfined as this user; trusted submissions only",
              file=sys.stderr)
    else:
        try:                                   # IsolationError (with the reason) before anyone is graded
            Worker(course, None, isolated=True, start_timeout=start_timeout).close()
        except WorkerFailed as exc:
            raise IsolationError(f"the sandbox did not start: {exc}; {ISOLATION_HELP}") from None
    db = f"sqlite:///{course / 'gradebook.db'}"
    config = _nbgrader_config(course)
    with Gradebook(db) as gb:
        names = [nb.name for nb in gb.find_assignment(assignment).notebooks]
    sources = [SourceNotebook.read(course / "source" / assignment / f"{n}.ipynb") for n in names]
    log(f"grading {assignment} with seed {seed}")
    status = {}
    for s in students:
        try:
            state = _grade_student(course, db, assignment, s, sources, opts, seed, config, log)
        except Exception as exc:  # noqa: BLE001 - whatever one submission does, the next student is graded
            state = f"infrastructure error: the grader failed on this submission ({type(exc).__name__}: {exc})"
        status[s] = _clean(state)
        log(f"{s}: {status[s]}")
    return status


__all__ = ["autograde", "IsolationError", "InfrastructureError", "notebook_seed"]
