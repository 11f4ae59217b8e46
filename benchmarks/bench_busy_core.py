"""Lecture 1's training on a quiet machine and with one core kept busy (issue 22, item 5: a busy laptop).

A student's laptop runs a browser beside the kernel. With PyTorch's default OpenMP behaviour, threads
spin at every barrier while one of them shares its core with another program, and training slows
about tenfold with one of two cores busy. The course's policy (:mod:`posecourse.threads`,
``OMP_WAIT_POLICY=PASSIVE`` applied when ``posecourse`` is imported before ``torch``) lets waiting
threads sleep instead.

Each measurement is a fresh Python process (the OpenMP runtime reads its settings once, when
``torch`` is loaded) that trains lecture 1's model (``posecourse.train.fit.fit`` on the lecture's record:
model, data, batch, learning rate) for ``--steps`` optimizer steps and reports the seconds of the
training loop. "Busy" runs one extra process spinning a pure-Python loop (one core's worth of load)
for the whole measurement. Policies:

- ``course``: ``import posecourse`` first, as the lectures do (the course's policy);
- ``default``: ``import torch`` first, so the runtime keeps its default waiting (what the course did
  before);
- ``1-thread``: the default waiting with ``torch.set_num_threads(1)`` (for comparison only: it changes
  the floating-point results);
- ``spin:N``: ``import posecourse`` first with ``GOMP_SPINCOUNT=N`` (a user's setting, which the course's policy
  leaves alone): threads spin ``N`` iterations at a barrier, then sleep (a middle way between the two above).

``--lecture 05`` trains another lecture's model instead (its own small kernels wait at more barriers per step).

Prints, per policy, the median seconds quiet and busy over ``--repeat`` alternating runs, the ratio
busy / quiet (target <= 2.5 for ``course``), the speed relative to ``course`` quiet, and whether the
final losses of ``course`` and ``default`` are bit-identical (the policy must not change results).
On a shared machine other people's load adds noise to every run: the load average is printed before
and after, and the runs of all policies alternate so that they see the same conditions.

    python benchmarks/bench_busy_core.py [--quick] [--steps N] [--repeat N] [--policies course,default,spin:10000]
                                         [--lecture 01]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TARGET = 2.5  #: busy / quiet, issue 22 item 5

_WORKER = r"""
import json, sys, time
policy, steps, lecture = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if policy == "course" or policy.startswith("spin:"):
    import posecourse          # applies the thread policy before torch loads
    import torch
else:
    import torch               # the runtime loads with its default waiting
    import posecourse
    if policy == "1-thread":
        torch.set_num_threads(1)
from posecourse.train import fit as F
from posecourse.lectures import get_lecture
from posecourse.threads import thread_policy
lec = get_lecture(lecture)
data = F.make_data(lec, seed=0)
t0 = time.perf_counter()
model, history = F.fit(lec, data, steps, seed=0, device="cpu", progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "loss": history.losses[-1], "policy": thread_policy()}))
"""

_BUSY = "while True:\n    pass\n"


def run_worker(policy: str, steps: int, lecture: str = "01_deeppose") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
                                                              "OMP_NUM_THREADS")}
    if policy.startswith("spin:"):
        env["GOMP_SPINCOUNT"] = policy.split(":", 1)[1]
    out = subprocess.run([sys.executable, "-c", _WORKER, policy, str(steps), lecture], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker ({policy}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(policy: str, steps: int, busy: bool, lecture: str = "01_deeppose") -> dict:
    hog = subprocess.Popen([sys.executable, "-c", _BUSY]) if busy else None
    try:
        if hog is not None:
            time.sleep(0.5)  # let the spinner start
        return run_worker(policy, steps, lecture)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps of lecture 1's training per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per policy and condition (median reported)")
    ap.add_argument("--policies", default="course,default,1-thread")
    ap.add_argument("--quick", action="store_true", help="15 steps, 1 run each, course and default only")
    ap.add_argument("--lecture", default="01_deeppose", help="whose training (a name or prefix, e.g. 05)")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.repeat, args.policies = 15, 1, "course,default"
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = {p for p in policies if p not in ("course", "default", "1-thread")
               and not (p.startswith("spin:") and p[5:].isdigit())}
    if unknown:
        ap.error(f"--policies: unknown {sorted(unknown)}; expected course, default, 1-thread or spin:N (N an integer)")

    print(f"{args.lecture} training, {args.steps} steps per run, {args.repeat} run(s) per policy and condition; "
          f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    times = {(p, b): [] for p in policies for b in (False, True)}
    losses, described = {}, {}
    for _ in range(args.repeat):
        for busy in (False, True):
            for p in policies:
                r = measure(p, args.steps, busy, args.lecture)
                times[p, busy].append(r["seconds"])
                losses.setdefault(p, set()).add(r["loss"])
                described[p] = r["policy"]
    print(f"load average after: {os.getloadavg()[0]:.2f}\n")
    base = statistics.median(times.get(("course", False)) or times[policies[0], False])
    print(f"{'policy':<10} {'quiet s':>8} {'busy s':>8} {'busy/quiet':>11} {'quiet vs course':>16}  runs (quiet | busy)")
    for p in policies:
        q, b = statistics.median(times[p, False]), statistics.median(times[p, True])
        runs = " ".join(f"{t:.1f}" for t in times[p, False]) + " | " + " ".join(f"{t:.1f}" for t in times[p, True])
        print(f"{p:<10} {q:8.1f} {b:8.1f} {b / q:10.2f}x {q / base:15.2f}x  {runs}")
    for p in policies:
        print(f"  {p}: {described[p]}")
    if "course" in policies:
        q, b = statistics.median(times["course", False]), statistics.median(times["course", True])
        print(f"\ncourse policy: busy / quiet = {b / q:.2f}x (target <= {TARGET}x): {'met' if b / q <= TARGET else 'MISSED'}")
    if {"course", "default"} <= set(policies):
        same = losses["course"] == losses["default"] and len(losses["course"]) == 1
        print(f"final loss, course vs default policy: {sorted(losses['course'])} vs {sorted(losses['default'])} "
              f"-> {'bit-identical' if same else 'DIFFERENT'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
