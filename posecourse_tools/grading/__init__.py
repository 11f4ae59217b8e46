"""Exercises and grading: ``python -m posecourse_tools.grading generate|autograde|export|feedback``.

Trust model (docs/instructors.md): the checks run in the grader (:mod:`.grader`), which never imports or runs
student code; student code runs only in a worker (:mod:`.worker`) inside a sandbox (:mod:`.sandbox`) and
answers with plain numeric data (:mod:`.wire`). The worker-side modules import nothing from nbgrader, so this
package's ``__init__`` loads the rest lazily.
"""
from __future__ import annotations

_EXPORTS = {
    "generate": "notebooks", "validate": "notebooks", "cell_signature": "notebooks", "export": "notebooks",
    "feedback": "notebooks", "tool_env": "notebooks", "autograde": "grader", "InfrastructureError": "grader", "IsolationError": "session",
    "WorkerFailed": "session", "isolation_problem": "session",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
