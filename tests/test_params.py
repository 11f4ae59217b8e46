"""Parameter validators: papermill's strings are parsed explicitly or rejected with the parameter's name,
never taken for their truthiness (``smoke="False"`` must not run smoke mode)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posecourse.params import (SEED_MAX, as_bool, as_device, as_float, as_int, as_optional_int, as_path, as_seed,
                               one_of)
from posecourse.utils import resolve_device

SPELLINGS = {True: ["true", "1", "yes"], False: ["false", "0", "no"]}


def _cases(word):
    """Every upper/lower-case spelling of ``word`` (2**len at most 32 of them)."""
    out = [""]
    for ch in word:
        out = [o + c for o in out for c in {ch.lower(), ch.upper()}]
    return out


@pytest.mark.parametrize("expected", [True, False])
def test_as_bool_parses_every_spelling_in_every_case(expected):
    for word in SPELLINGS[expected]:
        for spelled in _cases(word):
            assert as_bool("smoke", spelled) is expected
            assert as_bool("smoke", f"  {spelled}\n") is expected
    assert as_bool("smoke", expected) is expected
    assert as_bool("smoke", np.bool_(expected)) is expected
    assert as_bool("smoke", int(expected)) is expected


def test_the_papermill_string_false_is_false():
    assert as_bool("smoke", "False") is False  # a non-empty string: bool("False") would be True


_ACCEPTED = {w for words in SPELLINGS.values() for w in words}


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.none(), st.lists(st.booleans(), max_size=2)))
def test_as_bool_rejects_everything_else_naming_the_parameter(value):
    if isinstance(value, str) and value.strip().lower() in _ACCEPTED:
        assert as_bool("flag", value) is (value.strip().lower() in SPELLINGS[True])
    elif isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        assert as_bool("flag", value) is bool(value)
    else:
        with pytest.raises(ValueError, match=r"^flag: expected a boolean"):
            as_bool("flag", value)


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12))
def test_as_int_round_trips_ints_and_their_strings(n):
    assert as_int("steps", n) == n
    assert as_int("steps", str(n)) == n
    assert as_int("steps", f" {n} ") == n
    assert as_int("steps", np.int64(n)) == n
    assert as_int("steps", float(n)) == n if abs(n) < 2**53 else True


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_as_int_rejects_fractions_and_non_finite(x):
    if math.isfinite(x) and x.is_integer():
        assert as_int("steps", x) == int(x)
        assert as_int("steps", repr(x)) == int(x)
    else:
        for v in (x, repr(x)):
            with pytest.raises(ValueError, match="^steps: expected an integer"):
                as_int("steps", v)


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), "ten", "", "1.5", None, [3], "0x10"])
def test_as_int_rejects(bad):
    with pytest.raises(ValueError, match="^epochs: "):
        as_int("epochs", bad)


def test_as_int_bounds_name_the_parameter():
    assert as_int("steps", "5", minimum=5) == 5
    with pytest.raises(ValueError, match=r"^steps: must be >= 1, got 0"):
        as_int("steps", "0", minimum=1)
    with pytest.raises(ValueError, match=r"^steps: must be <= 9"):
        as_int("steps", 10, maximum=9)


@pytest.mark.parametrize("none", [None, "None", "none", "NULL", "", "  "])
def test_as_optional_int_none(none):
    assert as_optional_int("max_steps", none) is None


def test_as_optional_int_otherwise_an_int():
    assert as_optional_int("max_steps", "12", minimum=1) == 12
    with pytest.raises(ValueError, match="^max_steps: "):
        as_optional_int("max_steps", "twelve")
    with pytest.raises(ValueError, match="^max_steps: must be >= 1"):
        as_optional_int("max_steps", 0, minimum=1)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_as_float_round_trips(x):
    assert as_float("lr", x) == x
    assert as_float("lr", repr(x)) == x
    assert as_float("lr", np.float32(x)) == float(np.float32(x)) if abs(x) < 3e38 else True


@pytest.mark.parametrize("bad", ["nan", float("inf"), "-inf", True, "fast", None, "1,5"])
def test_as_float_rejects(bad):
    with pytest.raises(ValueError, match="^lr: expected a"):
        as_float("lr", bad)
    assert math.isinf(as_float("x", "inf", finite=False))


def test_as_float_bounds():
    assert as_float("sigma", "2", minimum=0.0) == 2.0
    with pytest.raises(ValueError, match=r"^sigma: must be >= 0"):
        as_float("sigma", -1, minimum=0.0)


def test_as_path(tmp_path):
    assert as_path("results_path", str(tmp_path / "r.json")) == tmp_path / "r.json"
    assert as_path("results_path", "~/x.json") == Path.home() / "x.json"
    assert as_path("data", tmp_path, must_exist=True) == tmp_path
    with pytest.raises(ValueError, match="^data: no file or directory at"):
        as_path("data", tmp_path / "missing", must_exist=True)
    for bad in ("", "   ", None, 3, ["a"]):
        with pytest.raises(ValueError, match="^results_path: expected a file path"):
            as_path("results_path", bad)


def test_one_of():
    assert one_of("method", "dark", ["argmax", "quarter", "dark"]) == "dark"
    assert one_of("stride", 4, (4, 8)) == 4
    with pytest.raises(ValueError, match=r"^method: expected one of \['argmax', 'dark'\].*did you mean 'dark'"):
        one_of("method", "DARK", ["argmax", "dark"])
    with pytest.raises(ValueError, match="^method: expected one of"):
        one_of("method", ["unhashable"], {"argmax", "dark"})
    with pytest.raises(ValueError, match="^stride: "):
        one_of("stride", "4", (4, 8))  # no silent coercion: parse first (as_int), then check membership


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=6), st.lists(st.text(max_size=4), min_size=1, max_size=4))
def test_one_of_accepts_exactly_the_choices(value, choices):
    if value in choices:
        assert one_of("name", value, choices) == value
    else:
        with pytest.raises(ValueError, match="^name: expected one of"):
            one_of("name", value, choices)


def test_as_device_auto_is_cuda_else_mps_else_cpu():
    expected = "cuda" if torch.cuda.is_available() else None
    for spec in (None, "auto", " AUTO "):
        dev = as_device("device", spec)
        assert dev.type == expected if expected else dev.type in ("cpu", "mps")
    assert as_device("device", "cpu") == torch.device("cpu")
    assert as_device("device", "CPU") == torch.device("cpu")
    assert as_device("device", torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "cuda0", "cuda:x", "tpu", "", 0, True, "cpu:0:1"])
def test_as_device_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="^device: expected 'auto', 'cpu'"):
        as_device("device", bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_as_device_cuda_without_cuda_says_so():
    for spec in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="^device: .*CUDA.*is_available"):
            as_device("device", spec)
        with pytest.raises(ValueError, match="^map_location: .*CUDA.*is_available"):  # the one checker, called directly
            resolve_device(spec, "map_location")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_as_device_cuda_index_is_checked():
    assert as_device("device", "cuda:0").type == "cuda"
    with pytest.raises(ValueError, match="^device: .*CUDA device"):
        as_device("device", f"cuda:{torch.cuda.device_count()}")


@settings(max_examples=100, deadline=None)
@given(st.integers(-2**40, 2**40))
def test_as_seed_range(n):
    if 0 <= n <= SEED_MAX:
        assert as_seed("seed", str(n)) == n
    else:
        with pytest.raises(ValueError, match="^seed: must be"):
            as_seed("seed", n)
    with pytest.raises(ValueError, match="^seed: expected an integer"):
        as_seed("seed", "0.5")
