"""The untrusted worker: runs one student's notebook cells, then answers the grader's calls with plain data.

``python -m posecourse_tools.grading.worker`` is started by :mod:`.sandbox` (unprivileged user, own namespaces,
rlimits). Everything in this process is within the student's reach, so the grader believes nothing it says
beyond what :func:`.wire.decode` accepts: values, never verdicts. Protocol (one JSON line each way):

    worker -> grader  {"hello": {"uid", "gid", "nnp", "pid"}}        (before any student code runs)
    grader -> worker  {"cells": [[cell_id, source], ...], "cell_timeout": s}
    worker -> grader  {"cell": cell_id}                               (before each cell: per-cell time limits)
    worker -> grader  {"ready": {"errors": {cell_id: "Type: message"}}}
    grader -> worker  {"id": n, "call": name, "args": [...], "kwargs": {...}}
    worker -> grader  {"id": n, "ok": value} | {"id": n, "error": "Type: message"}

The hidden tests never come here: the grader sends the inputs of each call, the comparisons stay with it.
"""
from __future__ import annotations

import os
import signal
import sys


def _status_field(name: str) -> str:
    try:
        for line in open("/proc/self/status"):
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


class CellTimeout(Exception):
    pass


def _alarm(seconds: float) -> None:
    def fire(signum, frame):
        raise CellTimeout(f"time limit of {seconds:g} s reached")
    signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)                      # the student's prints go to the (capped) stderr pipe
    from posecourse_tools.grading import wire

    def send(message) -> None:
        proto_out.write(wire.dumps(message))
        proto_out.flush()

    def receive():
        import json
        line = proto_in.readline()
        if not line:
            sys.exit(0)
        return json.loads(line)

    send({"hello": {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(),
                    "nnp": _status_field("NoNewPrivs")}})
    setup = receive()
    timeout = float(setup["cell_timeout"])
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    errors = {}
    for cell_id, source in setup["cells"]:
        send({"cell": cell_id})
        try:
            _alarm(timeout)
            result = shell.run_cell(source, store_history=False, silent=False)
            signal.setitimer(signal.ITIMER_REAL, 0)
            exc = result.error_before_exec or result.error_in_exec
            if exc is not None:
                errors[cell_id] = _describe(exc)
        except BaseException as exc:       # noqa: BLE001 - a cell may raise anything, SystemExit included
            signal.setitimer(signal.ITIMER_REAL, 0)
            errors[cell_id] = _describe(exc)
    send({"ready": {"errors": {str(k): v for k, v in errors.items()}}})

    def resolve(name: str):
        if name not in shell.user_ns:
            raise NameError(f"name {name!r} is not defined (did the cell that defines it run without error?)")
        return shell.user_ns[name]

    while True:
        request = receive()
        rid = request.get("id")
        try:
            fn = resolve(request["call"])
            args = wire.decode(request.get("args", []), resolve=resolve)
            kwargs = wire.decode(request.get("kwargs", {"d": {}}), resolve=resolve)
            _alarm(timeout)
            try:
                value = fn(*args, **kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            reply = {"id": rid, "ok": wire.encode(value)}
        except BaseException as exc:       # noqa: BLE001 - reported to the grader as a failed call
            signal.setitimer(signal.ITIMER_REAL, 0)
            reply = {"id": rid, "error": _describe(exc)}
        send(reply)


if __name__ == "__main__":
    main()
