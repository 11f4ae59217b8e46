"""The CPU thread policy (posecourse.threads): passive OpenMP waiting, set only before torch loads, never over a
user's own setting, and without changing results."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posecourse.threads import WAIT_POLICY, apply_thread_policy

KNOBS = ["OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"]


def test_applied_before_torch_loads():
    env = {"PATH": "/bin"}
    assert apply_thread_policy(env, modules={}) == "applied"
    assert env == {"PATH": "/bin", "OMP_WAIT_POLICY": WAIT_POLICY}


def test_too_late_once_torch_is_loaded_leaves_the_environment_alone():
    env = {}
    assert apply_thread_policy(env, modules={"torch": object()}) == "too late"
    assert env == {}


@given(knob=st.sampled_from(KNOBS), value=st.sampled_from(["ACTIVE", "passive", "0", "200", ""]),
       torch_loaded=st.booleans())
def test_a_users_own_setting_always_wins(knob, value, torch_loaded):
    env = {knob: value}
    assert apply_thread_policy(env, modules={"torch": None} if torch_loaded else {}) == "user"
    assert env == {knob: value}


def _child(code: str, **env_changes) -> str:
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_importing_posecourse_first_sets_the_policy_for_the_runtime():
    out = _child("import os, posecourse, torch; from posecourse.threads import thread_policy;"
                 "print(os.environ['OMP_WAIT_POLICY']); print(thread_policy())")
    assert out.splitlines()[0] == WAIT_POLICY
    assert "(applied)" in out.splitlines()[1]
    assert "too late" in _child("import torch, posecourse; from posecourse.threads import thread_policy;"
                                "print(thread_policy())")
    assert "ACTIVE (user)" in _child("import posecourse; from posecourse.threads import thread_policy;"
                                     "print(thread_policy())", OMP_WAIT_POLICY="ACTIVE")


@pytest.mark.slow
def test_the_policy_does_not_change_results():
    """Same threads, passive vs default waiting: a few training steps give bit-identical losses."""
    train = ("from posecourse.train import fit as F; from posecourse.lectures import get_lecture;"
             "lec = get_lecture('01_deeppose'); data = F.make_data(lec, seed=0);"
             "m, h = F.fit(lec, data, 3, seed=0, device='cpu', progress=False); print(repr(h.losses))")
    passive = _child("import posecourse, torch; torch.set_num_threads(2);" + train)
    default = _child("import torch, posecourse; torch.set_num_threads(2);" + train)
    assert passive == default
