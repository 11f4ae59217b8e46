"""Grader side of one worker: start it (sandboxed), feed it cells, call student functions, kill it.

Everything read from the worker goes through :func:`.wire.decode` with a size cap; every wait has a deadline
enforced here, outside the worker (SIGKILL of the namespace's PID 1 takes the whole process tree down).
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import wire
from .sandbox import SETUP_FAILED

MAX_LINE = 8 * 2 ** 20         # bytes in one message from the worker (about 750k float64 values)
MAX_LOG = 64 * 2 ** 10         # bytes of the worker's stdout/stderr kept for the instructor
QUEUED = 2                     # messages read ahead of the grader: a flooding worker blocks, the grader's memory is bounded
MAX_FILES, MAX_BYTES, MAX_DEPTH = 500, 50 * 2 ** 20, 8   # a submission folder's files copied into the sandbox
USED_UIDS: set[int] = set()    # every worker uid this process has started (tests look for leftovers of these only)
WORKER_UIDS = range(61000, 65000)   # one unused uid (no passwd entry, no home) per worker, drawn at random
UNSHARE = "unshare"            # util-linux
ISOLATION_HELP = ("the worker needs root, util-linux `unshare` (PID, mount, network, IPC namespaces) and "
                  "`setpriv`; run the grader as root on Linux (a VM or a privileged container), or pass "
                  "--unsafe-no-isolation to grade trusted submissions without a sandbox")


class IsolationError(RuntimeError):
    """The sandbox could not be set up: grading stops (never a silent fallback)."""


class WorkerFailed(RuntimeError):
    """The worker died, timed out, or broke the protocol: what it had not answered scores 0.

    ``infra`` is true when no student code had run yet (the start was killed, the machine is too busy, the sandbox
    did not come up): the grader retries those and reports an infrastructure error, never a 0."""

    def __init__(self, message: str, infra: bool = False):
        super().__init__(message)
        self.infra = infra


def wall_limit(cpu_seconds: float) -> float:
    """The grader's wall-clock limit for work the worker limits to ``cpu_seconds`` of CPU time: generous, so that
    a busy machine does not change a grade, and still bounded for a student that sleeps or blocks."""
    return 3 * cpu_seconds + 5


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def readonly_paths(course: Path) -> list[str]:
    """System and Python folders bound read-only into the sandbox: never the course or the repository root."""
    tools, lib = _package_dir("posecourse_tools"), _package_dir("posecourse")
    repo_roots = {tools.parent, lib.parent}
    paths = [Path(p) for p in ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc") if os.path.lexists(p)]
    paths += [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), tools, lib]
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if p.is_dir() and p.name in ("site-packages", "dist-packages"):   # not the script's or a PYTHONPATH folder
            paths.append(p)
    keep: list[Path] = []
    for p in sorted(set(paths), key=lambda q: len(q.parts)):
        if not any(p.is_relative_to(k) for k in keep if not k.is_symlink()):
            keep.append(p)
    for p in keep:
        if course.is_relative_to(p) or p.is_relative_to(course):
            raise IsolationError(f"the course directory {course} overlaps {p}, which the worker must see; "
                                 "keep the course directory outside the Python installation and the system folders")
    return [str(p) for p in keep]


class Worker:
    """One sandboxed (or, with ``isolated=False``, merely rlimited) worker process."""

    def __init__(self, course: Path, files: Path | None, isolated: bool = True, memory_mb: int = 4096,
                 cpu_s: int = 600, tmpfs_mb: int = 512, start_timeout: float = 60.0):
        self.isolated, self.log = isolated, bytearray()
        ro = readonly_paths(course) if isolated else []
        self.scratch = Path(tempfile.mkdtemp(prefix="posecourse-worker-"))
        (self.scratch / "root").mkdir()
        student = self.scratch / "files"
        student.mkdir()
        try:
            self.left_out = _copy_plain(files, student) if files is not None else []
        except OSError as exc:           # an unreadable submission folder: that student's files stay out
            self.left_out = [f"the submission's files could not be copied ({exc.strerror or exc})"]
        limits = {"RLIMIT_AS": memory_mb * 2 ** 20, "RLIMIT_CPU": cpu_s, "RLIMIT_FSIZE": 64 * 2 ** 20}
        tools = _package_dir("posecourse_tools")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(tools.parent), "LANG": "C.UTF-8"}
        self.uid = _free_uid()
        USED_UIDS.add(self.uid)
        if isolated:
            cfg = {"root": str(self.scratch / "root"), "files": str(student), "course": str(course),
                   "ro": ro, "uid": self.uid, "gid": self.uid, "tmpfs_mb": tmpfs_mb,
                   "python": sys.executable, "pythonpath": str(tools.parent), "rlimits": limits}
            cmd = [UNSHARE, "--pid", "--fork", "--kill-child", "--mount", "--net", "--ipc", "--uts", "--",
                   sys.executable, "-P", "-m", "posecourse_tools.grading.sandbox", json.dumps(cfg)]
            preexec, cwd = None, self.scratch / "root"   # -P and this cwd: no file of the student's runs as root
        else:
            cmd = [sys.executable, "-P", "-m", "posecourse_tools.grading.worker"]
            cwd = student
            env.update(HOME=str(student), TMPDIR=str(student), MPLBACKEND="Agg", OMP_NUM_THREADS="1")

            def preexec():
                import resource
                for name, value in limits.items():
                    resource.setrlimit(getattr(resource, name), (value, value))
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         cwd=cwd, env=env, start_new_session=True, preexec_fn=preexec)
        except OSError as exc:
            shutil.rmtree(self.scratch, ignore_errors=True)
            if isolated:
                raise IsolationError(f"cannot start {cmd[0]}: {exc}; " + ISOLATION_HELP) from None
            raise
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.lines: queue.Queue = queue.Queue(maxsize=QUEUED)
        self.closing = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.stderr_done = threading.Thread(target=self._read_stderr, daemon=True)
        self.stderr_done.start()
        self.next_id = 0
        try:
            self._check_hello(self._receive(time.monotonic() + start_timeout, "starting"))
        except WorkerFailed as exc:      # nothing of the student's has run: not the student's doing
            self.close()
            raise WorkerFailed(str(exc), infra=True) from None
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- reading (threads; capped)
    def _put(self, item) -> bool:
        """Queue one message, waiting while the grader has not taken the previous ones (a flooding worker then
        blocks on its pipe); gives up when the worker is being closed."""
        while not self.closing.is_set():
            try:
                self.lines.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _read_stdout(self) -> None:
        out = self.proc.stdout
        while True:
            try:
                line = out.readline(MAX_LINE + 1)
            except (OSError, ValueError):
                line = b""
            if not line or len(line) > MAX_LINE or not line.endswith(b"\n"):
                self._put(None if not line else b"")
                return
            if not self._put(line):
                return

    def _read_stderr(self) -> None:
        while chunk := self.proc.stderr.read1(65536):
            if len(self.log) < MAX_LOG:
                self.log += chunk[: MAX_LOG - len(self.log)]

    def _receive(self, deadline: float, doing: str):
        try:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            self.kill()
            raise WorkerFailed(f"time limit reached while {doing}") from None
        if line is None:
            self.kill()
            self.stderr_done.join(timeout=5)
            if self.isolated and self.proc.returncode == SETUP_FAILED and b"cannot isolate" in self.log:
                raise IsolationError(bytes(self.log).decode(errors="replace").strip() + "\n" + ISOLATION_HELP)
            detail = bytes(self.log[-2000:]).decode(errors="replace").strip() if doing == "starting" else ""
            raise WorkerFailed(f"the worker exited while {doing} (status {self.proc.returncode})"
                               + (f": {detail}" if detail else ""))
        if line == b"":
            self.kill()
            raise WorkerFailed(f"the worker sent a malformed or oversized message while {doing}")
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
            return message
        except (ValueError, RecursionError):
            self.kill()
            raise WorkerFailed(f"the worker sent invalid JSON while {doing}") from None

    def _check_hello(self, message: dict) -> None:
        hello = message.get("hello")
        if not isinstance(hello, dict):
            self.kill()
            raise WorkerFailed("the worker did not start")
        if self.isolated and not (hello.get("uid") == self.uid and hello.get("nnp") == "1"
                                  and isinstance(hello.get("pid"), int) and hello["pid"] <= 3):
            self.kill()
            raise IsolationError(f"the worker is not isolated as required ({hello}); " + ISOLATION_HELP)

    def _send(self, message, deadline: float) -> None:
        """Write one message without ever blocking past ``deadline`` (a worker that stops reading cannot hang us)."""
        data, fd = memoryview(wire.dumps(message)), self.proc.stdin.fileno()
        try:
            while data:
                _, ready, _ = select.select([], [fd], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    self.kill()
                    raise WorkerFailed("time limit reached while sending to the worker")
                data = data[os.write(fd, data[:65536]):]
        except OSError:
            self.kill()
            raise WorkerFailed("the worker stopped reading") from None

    # -------------------------------------------------------------- protocol
    def run_cells(self, cells: list[tuple[str, str]], cell_timeout: float, deadline: float,
                  student: bool = True) -> dict[str, str]:
        """Execute code cells (``cell_timeout`` CPU seconds each); returns ``{cell_id: error text}`` for cells that
        raised (untrusted). ``student=False``: the instructor's setup cells, which run before any student code."""
        wall = wall_limit(cell_timeout)
        self._send({"run": [list(c) for c in cells], "cell_timeout": cell_timeout, "student": student},
                   min(deadline, time.monotonic() + wall))
        ready, doing = {}, "starting the notebook's cells"
        for step in range(len(cells) + 1):     # one {"cell": id} per cell, then "ready": each cell gets its time
            ready = self._receive(min(deadline, time.monotonic() + wall), doing)
            if step < len(cells) and ready.get("cell") == cells[step][0]:
                doing = f"running cell {cells[step][0]}"
                continue
            break
        errors = ready.get("ready", {}).get("errors") if isinstance(ready.get("ready"), dict) else None
        if not isinstance(errors, dict):
            self.kill()
            raise WorkerFailed("the worker sent an unexpected message instead of 'ready'")
        return {str(k)[:100]: str(v)[:2000] for k, v in errors.items() if isinstance(v, str)}

    def call(self, name: str, args, kwargs, refs: dict, timeout: float, deadline: float, op: str = "call",
             handle: int | None = None):
        """One request (see :mod:`.worker`: ``call``, ``grad``, ``new``, ``method``); returns the decoded plain data
        or raises ``StudentError``. ``timeout`` is CPU seconds in the worker (wall: :func:`wall_limit`)."""
        self.next_id += 1
        rid = self.next_id
        request = {"id": rid, "op": op, "name": name, "args": wire.encode(list(args), refs),
                   "kwargs": wire.encode(dict(kwargs), refs), "timeout": timeout}
        if handle is not None:
            request["handle"] = handle
        wall = wall_limit(timeout)
        self._send(request, min(deadline, time.monotonic() + wall))
        reply = self._receive(min(deadline, time.monotonic() + wall), f"running {name}()")
        if reply.get("id") != rid or not ({"ok"} == set(reply) - {"id"} or {"error"} == set(reply) - {"id"}):
            self.kill()
            raise WorkerFailed(f"the worker answered {name}() out of protocol")
        if "error" in reply:
            raise StudentError(f"{name}(...) raised {str(reply['error'])[:2000]}")
        try:
            return wire.decode(reply["ok"])
        except (wire.WireError, RecursionError, ValueError) as exc:
            raise StudentError(f"{name}(...) did not return plain numbers: {exc}") from None

    def kill(self) -> None:
        """SIGKILL the namespace's PID 1 (the kernel then kills every process in it) and the launcher; wait."""
        if self.proc.poll() is None:
            children = _children(self.proc.pid)
            for child in children:          # PID 1 first: `unshare` then exits once the namespace is empty
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10 if children else 0.01)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        self.closing.set()
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.stderr_done.join(timeout=5)
        shutil.rmtree(self.scratch, ignore_errors=True)


def isolation_problem(course: Path | str = "/nonexistent-course") -> str | None:
    """``None`` when a sandboxed worker starts here, else the reason it cannot (for skips and the CLI)."""
    try:
        Worker(Path(course).resolve(), None, isolated=True, start_timeout=120).close()
    except (IsolationError, WorkerFailed) as exc:
        return str(exc)
    return None


class StudentError(Exception):
    """A student function raised, or returned something that is not plain numeric data."""


def _free_uid() -> int:
    """A uid in :data:`WORKER_UIDS` that no account uses and no process runs as (so no two workers share one)."""
    import pwd
    import random
    busy = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            busy.update(int(u) for u in status.read_text().split("Uid:")[1].split("\n")[0].split())
        except (OSError, IndexError, ValueError):
            pass
    for _ in range(1000):
        uid = random.SystemRandom().choice(WORKER_UIDS)
        if uid in busy:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise IsolationError(f"no free uid in {WORKER_UIDS}")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _copy_plain(src: Path, dst: Path) -> list[str]:
    """Copy the regular files of a submission folder (no symlinks, devices, FIFOs or dot-files), at most
    :data:`MAX_FILES` files, :data:`MAX_BYTES` bytes and :data:`MAX_DEPTH` folders deep; returns what was left out
    (a submission that does not fit costs that student its extra files, never the sandbox)."""
    left, count, total = [], 0, 0
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        if len(rel.parts) >= MAX_DEPTH:
            dirs[:] = []
            left.append(f"folders deeper than {MAX_DEPTH} levels")
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            size = path.stat().st_size
            if count >= MAX_FILES or total + size > MAX_BYTES:
                left.append(f"files beyond {MAX_FILES} files or {MAX_BYTES // 2 ** 20} MB were not copied")
                return left
            count, total = count + 1, total + size
            (dst / rel).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dst / rel / name)
    return left
