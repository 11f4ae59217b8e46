"""``python -m posecourse_tools.grading generate|autograde|feedback|export`` (see docs/instructors.md)."""
from __future__ import annotations

import argparse
import sys

from . import grader, notebooks
from .session import IsolationError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m posecourse_tools.grading")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("generate", help="regenerate exercises/ from solutions/ (nbgrader generate_assignment)")
    ag = sub.add_parser("autograde", help="grade every submission of one assignment, checks outside the sandbox")
    ag.add_argument("course")
    ag.add_argument("assignment")
    ag.add_argument("--student", action="append", help="grade only this student (repeatable)")
    ag.add_argument("--cell-timeout", type=int, default=15,
                    help="CPU seconds per cell and per call of student code (wall clock: 3x + 5 s)")
    ag.add_argument("--wall-timeout", type=int, default=240, help="seconds per student, all notebooks")
    ag.add_argument("--memory-mb", type=int, default=4096, help="address-space limit of the worker")
    ag.add_argument("--seed", type=int, default=None,
                    help="seed of the hidden tests' inputs (default: a fresh one, recorded in the gradebook; pass the "
                         "recorded one to regrade with the same inputs)")
    ag.add_argument("--unsafe-no-isolation", action="store_true",
                    help="run student code without the sandbox (trusted submissions only)")
    fb = sub.add_parser("feedback", help="nbgrader generate_feedback (shows the hidden tests: after the deadline)")
    fb.add_argument("course")
    fb.add_argument("assignment")
    ex = sub.add_parser("export", help="write grades as CSV (nbgrader export)")
    ex.add_argument("course")
    ex.add_argument("csv")
    a = p.parse_args(argv)
    if a.cmd == "generate":
        for path in notebooks.generate():
            print(path.relative_to(notebooks.ROOT))
    elif a.cmd == "autograde":
        for name, value in (("--cell-timeout", a.cell_timeout), ("--wall-timeout", a.wall_timeout),
                            ("--memory-mb", a.memory_mb)):
            if value <= 0:
                p.error(f"{name}: expected a positive number, got {value}")
        if a.seed is not None and not 0 <= a.seed < 2 ** 63:
            p.error(f"--seed: expected an integer in [0, 2**63), got {a.seed}")
        try:
            status = grader.autograde(a.course, a.assignment, students=a.student, cell_timeout=a.cell_timeout,
                                      wall_timeout=a.wall_timeout, memory_mb=a.memory_mb, seed=a.seed,
                                      unsafe_no_isolation=a.unsafe_no_isolation)
        except IsolationError as exc:
            print(f"refusing to grade: {exc}", file=sys.stderr)
            return 2
        infra = sorted(s for s, state in status.items() if state.startswith("infrastructure error"))
        if infra:
            print(f"NOT GRADED (infrastructure errors; regrade with --student): {', '.join(infra)}", file=sys.stderr)
            return 3
    elif a.cmd == "feedback":
        print(notebooks.feedback(a.course, a.assignment))
    else:
        print(f"{len(notebooks.export(a.course, a.csv))} rows -> {a.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
