"""The course's CPU thread policy: OpenMP threads that sleep, not spin, while they wait.

PyTorch's CPU kernels run in OpenMP parallel regions; at the end of each region every thread waits for
the others at a barrier. By default GNU OpenMP (the runtime PyTorch's Linux wheels ship) *spins* there
for a few milliseconds before it sleeps. On a laptop where another program (a browser) keeps one core
busy, one of PyTorch's threads shares that core, and the other thread burns its own core spinning for it
at every barrier: lecture 1's training took about 10x longer with one of two cores busy.

``OMP_WAIT_POLICY=PASSIVE`` (standard OpenMP; honoured by GNU libgomp and LLVM/Intel libomp) makes a
waiting thread sleep at once, so the busy core costs roughly its share of the machine. It changes only
*how* threads wait, not how work is split among them: results are bit-identical to the default policy
with the same thread count (``benchmarks/bench_busy_core.py`` checks the losses and prints the busy/quiet
ratio). Fewer threads (``torch.set_num_threads(1)``) would also avoid the stall, but it changes how
reductions are split, hence the floating-point results the stored lectures show, and it halves the
speed of a quiet machine.

The OpenMP runtime reads the variable once, when it is loaded, i.e. at ``import torch``. So
:func:`apply_thread_policy` runs when ``posecourse`` is imported (this module imports nothing heavy):
a notebook that imports ``posecourse`` before ``torch`` gets the policy; a user's own
``OMP_WAIT_POLICY`` (or ``GOMP_SPINCOUNT``, ``KMP_BLOCKTIME``) always wins.
"""
from __future__ import annotations

import os
import sys
from typing import MutableMapping

__all__ = ["WAIT_POLICY", "apply_thread_policy", "thread_policy"]

WAIT_POLICY = "PASSIVE"  #: the course's OpenMP wait policy
#: variables through which a user (or a test) chooses the waiting behaviour themselves
_USER_KNOBS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_STATE: dict = {}


def apply_thread_policy(environ: MutableMapping[str, str] | None = None, modules=None) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (default ``os.environ``) if the OpenMP runtime has not
    been loaded yet (``torch`` not in ``modules``, default ``sys.modules``) and the user set none of
    ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT`` / ``KMP_BLOCKTIME``. Returns what happened:

    - ``"applied"``: set now, before ``import torch``: in effect for this process and its children;
    - ``"user"``: the user's own setting is kept (whatever it says);
    - ``"too late"``: ``torch`` was imported first with no setting: the runtime's default (spinning) stays
      for this process; import ``posecourse`` before ``torch``, or set ``OMP_WAIT_POLICY=PASSIVE`` in the
      environment that starts Python.
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if any(k in environ for k in _USER_KNOBS):
        return "user"
    if "torch" in modules:
        return "too late"
    environ["OMP_WAIT_POLICY"] = WAIT_POLICY
    return "applied"


def thread_policy() -> str:
    """One line on this process's policy, e.g. for a benchmark's header: the threads torch uses and how they
    wait (what :func:`apply_thread_policy` found when ``posecourse`` was imported)."""
    import torch

    state = _STATE.get("status", "not applied")
    wait = "runtime default (spin, then sleep): torch was imported before posecourse" if state == "too late" else \
        os.environ.get("OMP_WAIT_POLICY", "runtime default (spin, then sleep)")
    return f"{torch.get_num_threads()} torch threads; OpenMP wait policy: {wait} ({state})"


def _apply_at_import() -> None:
    _STATE["status"] = apply_thread_policy()
