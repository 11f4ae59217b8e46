"""Validators for the values a notebook or a command line hands to the library.

papermill injects ``-p`` / ``-r`` values from the command line, often as strings: ``smoke="False"`` is a
non-empty string, so ``if smoke:`` would silently run smoke mode. Every parameter the library receives goes
through one of these functions, which either return a value of the right type or raise a ``ValueError``
that names the parameter, says what it accepts and repeats what it got::

    smoke = as_bool("smoke", smoke)            # True/False, "true"/"False"/"1"/"0"/"yes"/"no"
    steps = as_int("steps", steps, minimum=1)  # 300, "300", 300.0 -- not 2.5, True or "many"
    device = as_device("device", device)       # "auto"/None -> CUDA, else Apple MPS, else CPU
"""
from __future__ import annotations

import math
import numbers
import os
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from .utils import resolve_device

__all__ = ["as_bool", "as_int", "as_optional_int", "as_float", "as_pair", "as_path", "one_of", "as_device", "as_seed"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_NONE = {"none", "null"}
_INT = re.compile(r"[+-]?\d+")
SEED_MAX = 2**32 - 1  # NumPy's legacy seeding accepts 0 .. 2**32 - 1; torch and Python take any of these


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def as_bool(name: str, value: Any) -> bool:
    """``True``/``False`` (also NumPy bools), the integers 0/1, or the strings true/false, 1/0, yes/no
    (any case, surrounding blanks ignored). Anything else -- ``None``, ``2``, ``"off"``, ``0.0`` -- raises."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(int(value))
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name}: expected a boolean (True/False, or one of the strings true/false, yes/no, 1/0), "
                     f"{_got(value)}")


def _check_range(name: str, value, minimum, maximum):
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value!r}")
    return value


def as_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None, *,
           exact: bool = False) -> int:
    """An integer: Python/NumPy ints, floats with no fractional part (``300.0``, ``1e3``), or strings of
    either (``"300"``, ``" -2 "``, ``"1e3"``); with ``exact`` (a dataset's argument), ints only. Bools,
    fractions (``2.5``), NaN/inf and other strings raise, as does a value below ``minimum`` or above ``maximum``."""
    v = value
    if isinstance(v, str) and not exact:
        s = v.strip().replace("_", "")
        try:
            v = int(s) if _INT.fullmatch(s) else float(s)
        except ValueError:
            pass
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name}: expected an integer, {_got(value)} (a boolean is not a count)")
    if not (isinstance(v, numbers.Integral)
            or not exact and isinstance(v, numbers.Real) and math.isfinite(v) and float(v).is_integer()):
        raise ValueError(f"{name}: expected an integer, {_got(value)}")
    return _check_range(name, int(v), minimum, maximum)


def as_optional_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """``None`` (also the strings ``"none"``/``"null"``/``""``, any case) or :func:`as_int`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE | {""}):
        return None
    return as_int(name, value, minimum, maximum)


def as_float(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
             finite: bool = True, *, exact: bool = False) -> float:
    """A real number: ints, floats, NumPy scalars or (unless ``exact``) numeric strings (``"3e-4"``). Bools
    raise, and so do NaN and +-inf unless ``finite=False``, and values outside ``[minimum, maximum]``."""
    v = value
    if isinstance(v, str) and not exact:
        try:
            v = float(v.strip())
        except ValueError:
            pass
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise ValueError(f"{name}: expected a number, {_got(value)}")
    if finite and not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, {_got(value)}")
    return _check_range(name, float(v), minimum, maximum)


def as_pair(name: str, value: Any, check) -> tuple:
    """A scalar ``v`` -> ``(v, v)``, or a 2-element tuple / list; each element through ``check(name, v)``
    (e.g. ``lambda n, v: as_int(n, v, 1)``)."""
    pair = value if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{name}: expected one value or a pair, got {len(pair)} values {value!r}")
    return tuple(check(name, v) for v in pair)


def as_path(name: str, value: Any, must_exist: bool = False) -> Path:
    """A non-empty ``str`` or ``os.PathLike`` -> ``Path`` (``~`` expanded); with ``must_exist`` the file or
    directory must be there."""
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise ValueError(f"{name}: expected a file path (a non-empty string or Path), {_got(value)}")
    path = Path(value).expanduser()
    if must_exist and not path.exists():
        raise ValueError(f"{name}: no file or directory at {str(path)!r}")
    return path


def one_of(name: str, value: Any, choices: Iterable) -> Any:
    """``value`` if it is one of ``choices`` (exact match), else a ``ValueError`` listing them; a string
    differing only in case or surrounding blanks is named as the likely intent, not accepted."""
    choices = list(choices)
    try:
        if value in choices:
            return choices[choices.index(value)]
    except TypeError:  # an unhashable / incomparable value: fall through to the error
        pass
    close = [c for c in choices if isinstance(c, str) and isinstance(value, str) and c.lower() == value.strip().lower()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{name}: expected one of {choices}, {_got(value)}{hint}")


_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


def as_device(name: str, value: Any) -> torch.device:
    """``None``/``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` (any case) or a ``torch.device``, as
    the device :func:`posecourse.utils.resolve_device` chooses (auto: CUDA, else MPS, else CPU) and checks is
    present; any other form raises."""
    spec = str(value) if isinstance(value, torch.device) else "auto" if value is None else value
    spec = spec.strip().lower() if isinstance(spec, str) else None
    if spec is None or spec != "auto" and not _DEVICE.fullmatch(spec):
        raise ValueError(f"{name}: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', {_got(value)}")
    return resolve_device(spec, name)


def as_seed(name: str, value: Any) -> int:
    """A seed: an integer (or integer string) in ``0 .. 2**32 - 1``, the range every generator the course
    seeds (Python, NumPy, torch) accepts unchanged."""
    return as_int(name, value, minimum=0, maximum=SEED_MAX)
