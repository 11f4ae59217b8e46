"""Checks for dataset constructor arguments: each returns the value as a plain Python number or raises
``ValueError`` naming the parameter, what it expected and what it got (notebook parameters arrive as
text, NumPy scalars or floats; none is coerced silently)."""
from __future__ import annotations

import math
import numbers


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; bools, floats and text are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}: expected an integer in [{low if low is not None else '-inf'}, "
                         f"{high if high is not None else 'inf'}], got {value}")
    return value


def number(name: str, value, low: float = -math.inf, high: float = math.inf, *, open_low: bool = False) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``open_low``); bools and text rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or value > high or (open_low and value == low):
        raise ValueError(f"{name}: expected a finite number in {'(' if open_low else '['}{low:g}, {high:g}], got {value!r}")
    return value


def pair(name: str, value, check) -> tuple:
    """A scalar ``v`` -> ``(v, v)``, or a 2-element tuple / list, each element passed through ``check(name, v)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected a value or a pair (low, high), got {len(value)} values {value!r}")
        return tuple(check(name, v) for v in value)
    return (check(name, value),) * 2
