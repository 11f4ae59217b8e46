"""The untrusted worker: runs one student's notebook cells, then answers the grader's requests with plain data.

``python -P -m posecourse_tools.grading.worker`` is started by :mod:`.sandbox` (unprivileged user, own namespaces,
rlimits; ``-P``: the student's folder is not on ``sys.path`` while the worker and the instructor's setup cells load).
Everything in this process is within the student's reach, so the grader believes nothing it says beyond what
:func:`.wire.decode` accepts: the student's raw outputs, never verdicts, reports or gradient lists it could shape.
No helper of the notebook runs here: the grader runs every check, on the outputs returned. Protocol (one JSON line
each way):

    worker -> grader  {"hello": {"uid", "gid", "nnp", "pid"}}        (IPython loaded, before any other code runs)
    grader -> worker  {"run": [[cell_id, source], ...], "cell_timeout": s, "student": bool}
    worker -> grader  {"cell": cell_id}                               (before each cell: per-cell time limits)
    worker -> grader  {"ready": {"errors": {cell_id: "Type: message"}}}
    grader -> worker  {"id": n, "op": "call", "name": f, "args": [...], "kwargs": {...}}      f(*args, **kwargs)
                      {"id": n, "op": "grad", "name": f, "args": [...], "kwargs": {...}}      f(...) and d f / d args[0][i]
                      {"id": n, "op": "new", "name": C, "args": [...], "kwargs": {...}}       C(...) -> handle
                      {"id": n, "op": "method", "handle": h, "name": m, "args": [...]}        one of METHODS
    worker -> grader  {"id": n, "ok": value} | {"id": n, "error": "Type: message"}

Time limits are CPU seconds here (``ITIMER_PROF``: a busy machine does not make a correct student time out); the
grader adds a wall-clock limit and kills the whole namespace when it is reached.
"""
from __future__ import annotations

import os
import signal
import sys

METHODS = ("forward", "eval", "train", "state_dict", "parameters", "load_state_dict")


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
        raise CellTimeout(f"time limit of {seconds:g} CPU seconds reached")
    signal.signal(signal.SIGPROF, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_PROF, 0)


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"[:2000]
    except BaseException:  # noqa: BLE001 - a student's exception whose __str__ raises
        return f"{type(exc).__name__}: (message unreadable)"


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)                      # the student's prints go to the (capped) stderr pipe
    from posecourse_tools.grading import wire
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    def send(message) -> None:
        proto_out.write(wire.dumps(message))
        proto_out.flush()

    def receive():
        import json
        line = proto_in.readline()
        if not line:
            sys.exit(0)
        return json.loads(line)

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    send({"hello": {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(),
                    "nnp": _status_field("NoNewPrivs")}})
    objects: dict[int, object] = {}

    def run(request) -> None:
        timeout, errors = float(request["cell_timeout"]), {}
        if request.get("student") and os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())       # as in a notebook kernel: the student's own modules import
        for cell_id, source in request["run"]:
            send({"cell": cell_id})
            try:
                _alarm(timeout)
                result = shell.run_cell(source, store_history=False, silent=False)
                _disarm()
                exc = result.error_before_exec or result.error_in_exec
                if exc is not None:
                    errors[cell_id] = _describe(exc)
            except BaseException as exc:       # noqa: BLE001 - a cell may raise anything, SystemExit included
                _disarm()
                errors[cell_id] = _describe(exc)
        send({"ready": {"errors": {str(k): v for k, v in errors.items()}}})

    def lookup(name: str):
        if name not in shell.user_ns:
            raise NameError(f"name {name!r} is not defined (did the cell that defines it run without error?)")
        return shell.user_ns[name]

    def resolve(ref: str):
        try:
            return objects[int(ref)]
        except (KeyError, ValueError):
            raise LookupError(f"no object {ref!r} (the worker was restarted?)") from None

    def answer(request):
        op = request.get("op")
        args = wire.decode(request.get("args", []), resolve=resolve)
        kwargs = wire.decode(request.get("kwargs", {"d": {}}), resolve=resolve)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise TypeError("malformed request")
        if op == "method":
            obj, name = resolve(str(request.get("handle"))), request.get("name")
            if name not in METHODS:
                raise AttributeError(f"method {name!r} is not one the grader calls")
            if name == "forward":
                return obj(*args, **kwargs)
            if name in ("eval", "train"):
                getattr(obj, name)()
                return None
            if name == "state_dict":
                return dict(obj.state_dict())
            if name == "parameters":
                return list(obj.parameters())
            obj.load_state_dict(*args, strict=True)
            return None
        target = lookup(str(request.get("name")))
        if op == "new":
            obj = target(*args, **kwargs)
            objects[len(objects) + 1] = obj
            return len(objects)
        if op == "grad":
            import torch
            inputs = [torch.as_tensor(t).detach().clone().requires_grad_(True) for t in args[0]]
            value = target(inputs, *args[1:], **kwargs)
            grads = [None] * len(inputs)
            if torch.is_tensor(value) and value.requires_grad and value.numel() == 1:
                grads = list(torch.autograd.grad(value.sum(), inputs, allow_unused=True))
            return {"value": value, "grads": grads}
        if op == "call":
            return target(*args, **kwargs)
        raise ValueError(f"unknown operation {op!r}")

    while True:
        request = receive()
        if "run" in request:
            run(request)
            continue
        rid = request.get("id")
        try:
            _alarm(float(request.get("timeout", 10)))
            try:
                value = answer(request)
            finally:
                _disarm()
            reply = {"id": rid, "ok": wire.encode(value)}
        except BaseException as exc:       # noqa: BLE001 - reported to the grader as a failed call
            _disarm()
            reply = {"id": rid, "error": _describe(exc)}
        send(reply)


if __name__ == "__main__":
    main()
