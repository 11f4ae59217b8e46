"""Instructor tools for the course (not part of the ``posecourse`` library students import).

``posecourse_tools.grading``: regenerate the exercises and grade submissions with the checks outside the
students' reach (``python -m posecourse_tools.grading generate|autograde|export``).
"""
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo; elsewhere what :mod:`platform` says): the tools record it beside
    every measurement, since another CPU changes a run's numbers."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

