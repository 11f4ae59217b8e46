"""Instructor tooling for the nbgrader exercises: generate, validate, sandboxed autograde, export.

``python -m posecourse.grading generate``            regenerate ``exercises/`` from ``solutions/`` (nbgrader itself)
``python -m posecourse.grading autograde COURSE PS``  autograde every submission of assignment PS, one sandbox each
``python -m posecourse.grading export COURSE CSV``    write the grades as CSV

nbgrader has no sandbox. Isolation and limits are added here (see docs/instructors.md):

* each student is graded in its own subprocess with a wall-clock limit (the process group is killed);
* every cell has a timeout (``Execute.timeout``, interrupt then error);
* the kernel runs through :func:`kernel_main`: rlimits (address space, file size, CPU), HOME/TMPDIR in the
  submission's own folder, and, where mount namespaces work (root, ``unshare``), a private mount namespace in which
  the course directory is replaced by an empty tmpfs holding only the submission's folder and everything else is
  read-only (hidden tests, gradebook and other students are unreachable, writes outside the folder fail);
* every graded cell first calls a guard (name random per run) that restores what a submission could have tampered
  with: builtins, ``numpy``/``numpy.testing``/``torch``/``math`` attributes, ``sys.modules``, IPython's custom
  exception handler, input transformers, cell events, trace hooks and the ``np``/``torch``/``nn`` names;
* outputs are truncated in the kernel (per-cell byte cap) and by nbgrader's ``LimitOutput``.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
KERNEL_NAME = "posecourse-sandbox"
GUARD_ENV = "POSECOURSE_GUARD"
VOLATILE_METADATA = ("execution", "collapsed", "scrolled", "trusted")


# ---------------------------------------------------------------- generate / validate
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
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "ps", "--no-db", "--force",
                        f"--CourseDirectory.root={course}", "--log-level=ERROR"],
                       cwd=course, check=True, capture_output=True, text=True)
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
    """nbgrader's Validator: ``True`` when every test passes (``invert=False``) or every test fails (``invert=True``)."""
    from nbgrader.validator import Validator
    result = Validator(invert=invert).validate(str(path))
    return not any(result.get(k) for k in ("failed", "passed", "changed", "mismatch"))


# ---------------------------------------------------------------- the guard run in the kernel
GUARD_SOURCE = r'''
def __make_guard():
    import builtins, sys, math, numpy, numpy.testing
    torch = None
    if __import__("os").environ.pop("POSECOURSE_GUARD_TORCH", "1") == "1":
        try:
            import torch, torch.nn
        except Exception:
            torch = None
    shell = get_ipython()
    mods = [builtins, math, numpy, numpy.testing, numpy.linalg] + ([torch, torch.nn, torch.nn.functional] if torch else [])
    klasses = list(type(shell).__mro__[:-1])
    saved = [(m, dict(vars(m))) for m in mods]
    saved_cls = [(k, dict(vars(k))) for k in klasses]
    saved_sysmods = {m.__name__: m for m in mods}
    names = {"np": numpy, "math": math, "__builtins__": builtins}
    if torch:
        names.update(torch=torch, nn=torch.nn)
    set_custom_exc = type(shell).set_custom_exc
    cleanup = list(shell.input_transformers_cleanup); post = list(shell.input_transformers_post)
    events = {k: list(v) for k, v in shell.events.callbacks.items()}
    shell_attrs = set(vars(shell))
    def restore():
        sys.settrace(None); sys.setprofile(None)
        for m, d in saved:
            for k in [k for k in vars(m) if k not in d]:
                try: delattr(m, k)
                except Exception: pass
            for k, v in d.items():
                if vars(m).get(k, d) is not v:
                    try: setattr(m, k, v)
                    except Exception: pass
        for k, d in saved_cls:
            for a in [a for a in vars(k) if a not in d]:
                type.__delattr__(k, a)
            for a, v in d.items():
                if vars(k).get(a, d) is not v:
                    try: type.__setattr__(k, a, v)
                    except Exception: pass
        for a in [a for a in vars(shell) if a not in shell_attrs]:
            object.__delattr__(shell, a)
        sys.modules.update(saved_sysmods)
        shell.user_ns.update(names)
        set_custom_exc(shell, (), None)
        shell.input_transformers_cleanup[:] = cleanup; shell.input_transformers_post[:] = post
        for k, v in events.items():
            shell.events.callbacks[k][:] = v
    return restore
'''


def _guard_name(nonce: str) -> str:
    return f"_pc_{nonce}"


def _install_guard_preprocessor():
    """The nbgrader preprocessor that prefixes every graded cell with the guard call (defined lazily: imports nbgrader)."""
    from nbgrader.preprocessors import NbGraderPreprocessor

    class GuardGradedCells(NbGraderPreprocessor):
        def preprocess_cell(self, cell, resources, index):
            grade = cell.get("metadata", {}).get("nbgrader", {}).get("grade")
            if cell.cell_type == "code" and grade:
                cell.source = f"{_guard_name(os.environ[GUARD_ENV])}()\n" + cell.source
            return cell, resources

    return GuardGradedCells


# ---------------------------------------------------------------- the sandboxed kernel
def filesystem_isolation_available() -> bool:
    """Whether a private mount namespace can be made here (root + ``unshare``/``mount`` present)."""
    if os.environ.get("POSECOURSE_NO_UNSHARE") == "1" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True) if shutil.which("unshare") else None
    return r is not None and r.returncode == 0

def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _isolate_filesystem(workdir: Path, course: Path) -> None:
    """Private mount namespace: course dir -> tmpfs holding only ``workdir``; every other mount read-only."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS (os.unshare needs Python 3.12)
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount("--make-rprivate", "/")
    stash = Path("/mnt") if Path("/mnt").is_dir() else Path("/media")
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(stash))
    (stash / "w").mkdir()
    _mount("--bind", str(workdir), str(stash / "w"))
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for m in sorted(set(mounts)):
        if m.startswith(("/proc", "/sys", "/dev")) or m == str(stash / "w"):
            continue
        subprocess.run(["mount", "-o", "remount,bind,ro", m], capture_output=True)
    _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(course))
    inside = course / workdir.relative_to(course)
    inside.mkdir(parents=True)
    _mount("--bind", str(stash / "w"), str(inside))
    for nb in inside.glob("*.ipynb"):  # nbgrader's working copy holds the hidden tests
        _mount("--bind", "/dev/null", str(nb))
    _mount("-o", "remount,ro", str(course))
    _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", "/dev/shm")
    os.chdir(inside)


def kernel_main(argv: list[str]) -> None:
    """Entry point of the sandbox kernelspec: limits, isolation, guard, then a normal ipykernel."""
    p = argparse.ArgumentParser(prog="posecourse.grading kernel")
    p.add_argument("-f", dest="connection_file", required=True)
    p.add_argument("--course", required=True)
    p.add_argument("--memory-mb", type=int, default=4096)
    p.add_argument("--cpu-s", type=int, default=300)
    p.add_argument("--output-bytes", type=int, default=1_000_000)
    a = p.parse_args(argv)
    workdir = Path.cwd().resolve()
    nonce = os.environ.pop(GUARD_ENV, "")
    home = workdir / ".sandbox_home"
    home.mkdir(exist_ok=True)
    for var in ("HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        os.environ[var] = str(home)
    connection = Path(a.connection_file).read_text()
    if os.environ.get("POSECOURSE_NO_UNSHARE") != "1":
        try:
            _isolate_filesystem(workdir, Path(a.course).resolve())
        except OSError as e:  # no mount namespace here: degrade (a failure after unshare raises: fail closed)
            print(f"posecourse sandbox: no filesystem isolation ({e})", file=sys.stderr)
    conn = home / "kernel.json"
    conn.write_text(connection)
    mem = a.memory_mb * 2 ** 20
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (a.cpu_s, a.cpu_s))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2 ** 20, 64 * 2 ** 20))
    _cap_output(a.output_bytes)
    lines = [GUARD_SOURCE, f"{_guard_name(nonce)} = __make_guard()", "del __make_guard"] if nonce else []
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(argv=["-f", str(conn), "--IPKernelApp.exec_lines=" + json.dumps(lines)])


def _cap_output(limit: int) -> None:
    """Truncate what one cell may print to ``limit`` characters per stream (a 100 MB print costs nothing)."""
    from ipykernel.iostream import OutStream
    write = OutStream.write

    def capped(self, text):
        count = getattr(self, "_pc_count", (None, 0))
        cell = getattr(self, "parent_header", {}).get("msg_id")
        used = count[1] if count[0] == cell else 0
        if used >= limit:
            return len(text)
        keep = text[: limit - used]
        self._pc_count = (cell, used + len(text))
        if len(keep) < len(text):
            keep += f"\n[output truncated at {limit} characters]\n"
        return write(self, keep)

    OutStream.write = capped


# ---------------------------------------------------------------- autograde
def _kernelspec_dir(course: Path, memory_mb: int) -> Path:
    """A JUPYTER_PATH folder with the sandbox kernelspec (outside the course: it is instructor-side)."""
    base = Path(tempfile.mkdtemp(prefix="posecourse-kernels-"))
    spec = base / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "posecourse.grading", "kernel", "-f", "{connection_file}",
            "--course", str(course), "--memory-mb", str(memory_mb)]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "posecourse sandbox",
                                                  "language": "python"}))
    return base


def _autograde_one(course: str, assignment: str, student: str, cell_timeout: int) -> None:
    """Runs in the per-student subprocess: nbgrader's API with our kernel, guard, timeouts and output limits."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteCells,
                                        OverwriteKernelspec)
    from traitlets.config import Config
    c = Config()
    c.CourseDirectory.root = course
    c.Execute.timeout = cell_timeout
    c.Execute.interrupt_on_timeout = True
    c.Execute.kernel_name = KERNEL_NAME
    c.Execute.startup_timeout = 60
    c.LimitOutput.max_lines = 200
    c.LimitOutput.max_traceback = 40
    c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                          CheckCellMetadata, _install_guard_preprocessor()]
    result = NbGraderAPI(config=c).autograde(assignment, student, force=True, create=True)
    if not result.get("success"):
        print(result.get("error") or result.get("log"), file=sys.stderr)
        sys.exit(1)


def autograde(course: Path | str, assignment: str, students: list[str] | None = None, cell_timeout: int = 15,
              wall_timeout: int = 240, memory_mb: int = 4096) -> dict[str, str]:
    """Autograde every submission of ``assignment`` in ``course/submitted``, each in its own time-limited sandbox.

    Returns ``{student: "ok" | "error: ..." | "timeout"}``. Every student is in the gradebook afterwards, so the export
    has a row for each (0 points where grading failed).
    """
    from nbgrader.api import Gradebook
    tool_env()
    course = Path(course).resolve()
    if not (course / "source" / assignment).is_dir():
        raise ValueError(f"assignment: no folder {course / 'source' / assignment}")
    submitted = course / "submitted"
    students = sorted(students or [d.name for d in submitted.iterdir() if (d / assignment).is_dir()])
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for s in students:
            gb.update_or_create_student(s)
    kernels = _kernelspec_dir(course, memory_mb)
    uses_torch = any("torch" in nb.read_text() for nb in (course / "source" / assignment).glob("*.ipynb"))
    status = {}
    try:
        for s in students:
            env = dict(os.environ, JUPYTER_PATH=os.pathsep.join([str(kernels), os.environ.get("JUPYTER_PATH", "")]),
                       **{GUARD_ENV: secrets.token_hex(8), "POSECOURSE_GUARD_TORCH": "1" if uses_torch else "0"})
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
            cmd = [sys.executable, "-c", "import sys; from posecourse.grading import _autograde_one as f; "
                   "f(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))",
                   str(course), assignment, s, str(cell_timeout)]
            proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=wall_timeout)
                status[s] = "ok" if proc.returncode == 0 else "error: " + out.decode(errors="replace")[-4000:]
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                status[s] = "timeout"
    finally:
        shutil.rmtree(kernels, ignore_errors=True)
    return status


def export(course: Path | str, path: Path | str) -> list[dict]:
    """Write the gradebook as CSV (one row per student and assignment: nbgrader's own exporter); return the rows."""
    course, path = Path(course).resolve(), Path(path).resolve()
    subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--to={path}", f"--CourseDirectory.root={course}",
                    "--log-level=ERROR"], cwd=course, check=True, capture_output=True, text=True, env=tool_env())
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kernel"]:
        return kernel_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m posecourse.grading")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("generate", help="regenerate exercises/ from solutions/")
    ag = sub.add_parser("autograde", help="sandboxed autograde of every submission of one assignment")
    ag.add_argument("course"); ag.add_argument("assignment")
    ag.add_argument("--cell-timeout", type=int, default=15); ag.add_argument("--wall-timeout", type=int, default=240)
    ex = sub.add_parser("export", help="write grades as CSV")
    ex.add_argument("course"); ex.add_argument("csv")
    a = p.parse_args(argv)
    if a.cmd == "generate":
        for path in generate():
            print(path.relative_to(ROOT))
    elif a.cmd == "autograde":
        for s, st in autograde(a.course, a.assignment, cell_timeout=a.cell_timeout,
                               wall_timeout=a.wall_timeout).items():
            print(f"{s}: {st}")
    else:
        print(f"{len(export(a.course, a.csv))} rows -> {a.csv}")


if __name__ == "__main__":
    main()
