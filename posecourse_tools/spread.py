"""Measure each lecture's headline metric over several seeds: the spread behind its ``minimum``.

``python -m posecourse_tools.spread --only 01 --seeds 5`` trains lecture 1's live recipe (the record's
``steps``, ``batch_size``, ``lr``, default parameters) once per seed 0..4 and evaluates it on the held-out
images exactly as the notebook does -- :func:`posecourse.train.fit.make_data`, then
:func:`posecourse.lectures.shipped.train_or_load` and :func:`posecourse.evaluation.evaluate` on the settings of
:meth:`posecourse.lectures.Lecture.settings` -- so seed 0 gives the headline the executed notebook stored
in ``lectures/results.json`` (on the machine that executed it; the tool prints whether it does).

Each measurement (lecture, seed, metric, value, steps, batch size, learning rate, the record's ``recipe``
fingerprint, CPU model, threads, torch version, date, seconds) is merged into :data:`SPREAD_FILE` (``posecourse/checkpoints/spread.json``,
package data): a rerun replaces the row of the same (lecture, seed) and keeps the others. On one machine
training is deterministic; across CPU types floating point differs and training amplifies it, so the
spread over seeds stands in for "any CPU". :attr:`posecourse.lectures.Lecture.minimum` derives the
lecture's minimum from these rows (see :attr:`~posecourse.lectures.Lecture.spread`).

One training at a time; prefix with ``nice -n 19`` on a shared machine. ``--steps 5 --out /tmp/x.json``
is a smoke run that never touches the shipped file (rows of another recipe, e.g. step count, are ignored by the
rule anyway, and a smoke run refuses the shipped file).
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
from pathlib import Path

import posecourse  # noqa: F401  before torch: the course's OpenMP wait policy (posecourse.threads)
import torch

from posecourse import evaluation as E
from posecourse.train import fit as F
from posecourse.lectures import shipped
from posecourse.lectures import LECTURES, SPREAD_FILE, get_lecture

from . import cpu_model  # noqa: F401  (spread.cpu_model, as before)
from .markers import replace_between

ROOT = Path(__file__).resolve().parents[1]
KEY = ("lecture", "seed")


def measure(name: str, seed: int, steps: int | None = None, lecture=None, progress: bool = False) -> dict:
    """Train lecture ``name``'s live run with ``seed`` (``steps``: default the record's) and evaluate it on the
    held-out images, the very calls of the notebook. ``lecture``: a modified record (tests use a small one)."""
    lec = lecture or get_lecture(name)
    run = lec.settings(seed=seed, train_steps=steps, device="cpu")
    data = F.make_data(lec, seed=run.seed)
    t0 = time.perf_counter()
    model, _ = shipped.train_or_load(run, data, progress=progress)
    result = E.evaluate(model, lec, data)
    return {"lecture": lec.name, "seed": run.seed, "metric": result["metric"], "value": float(result["value"]),
            "steps": run.steps, "batch_size": lec.batch_size, "lr": lec.lr,
            "recipe": lec.replace(steps=run.steps).recipe, "cpu": cpu_model(),
            "threads": torch.get_num_threads(), "torch": str(torch.__version__),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(time.perf_counter() - t0, 1)}


def merge(rows: list[dict], new: list[dict]) -> list[dict]:
    """``rows`` with ``new`` merged in: a new row replaces the one of the same (lecture, seed); sorted."""
    out = {tuple(r[k] for k in KEY): r for r in rows}
    out.update({tuple(r[k] for k in KEY): r for r in new})
    return [out[k] for k in sorted(out)]


def load(path: Path) -> list[dict]:
    """The rows stored in ``path`` ([] if the file does not exist)."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else []


def store(path: Path, new: list[dict]) -> list[dict]:
    """Merge ``new`` into the rows of ``path`` and write them back (atomically); returns all rows."""
    path = Path(path)
    rows = merge(load(path), new)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1) + "\n")
    tmp.replace(path)
    return rows


def stored_headline(name: str, root: Path = ROOT) -> dict | None:
    """The row of lecture ``name`` in the executed notebooks' ``lectures/results.json`` (None if absent)."""
    path = root / "lectures" / "results.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    return next((r for r in rows if r.get("lecture") == name), None)


def compare_seed0(row: dict, root: Path = ROOT) -> str:
    """One line: does this seed-0 measurement equal the stored notebook's headline exactly?"""
    stored = stored_headline(row["lecture"], root)
    if stored is None or stored.get("steps") != row["steps"] or stored.get("use_shipped"):
        return f"{row['lecture']} seed 0: no stored live headline at {row['steps']} steps to compare with"
    same = stored["value"] == row["value"]
    return (f"{row['lecture']} seed 0: {row['value']:.6f}, stored notebook {stored['value']:.6f}: "
            + ("identical" if same else f"DIFFERS by {row['value'] - stored['value']:+.6f}"))


def _stats(values: tuple) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1), as :attr:`Lecture.minimum`'s rule computes them."""
    return statistics.fmean(values), statistics.stdev(values)


def summary(rows: list[dict]) -> str:
    """A table of the rows per lecture, with each record's floor, spread rule and resulting minimum."""
    lines = [f"{'lecture':<14} {'metric':<10} {'seeds':>5} {'mean':>6} {'sd':>6} {'worst':>6} {'best':>6} "
             f"{'floor':>6} {'minimum':>7}"]
    for name, lec in LECTURES.items():
        values = lec.spread_of(rows)
        if values is None:
            lines.append(f"{name:<14} {lec.metric.name:<10} {'-':>5} {'(no spread of the current recipe: floor)':>41} "
                         f"{lec.floor:>7.2f}")
            continue
        mean, sd = _stats(values)
        lines.append(f"{name:<14} {lec.metric.name:<10} {len(values):>5} {mean:6.3f} {sd:6.3f} "
                     f"{min(values):6.3f} {max(values):6.3f} {lec.floor:6.2f} {lec.minimum_of(rows):7.2f}")
    return "\n".join(lines)


_START, _END = "<!-- spread:start -->", "<!-- spread:end -->"


def readme_table(rows: list[dict]) -> str:
    """The README's table of the stored spread: per lecture, the seeds, their values, floor and minimum."""
    lines = ["| lecture | metric | seeds | values (seed 0 first) | mean ± sd | floor | minimum |", "|---|---|---|---|---|---|---|"]
    cpus, threads = set(), set()
    for name, lec in LECTURES.items():
        values = lec.spread_of(rows)
        if values is None:
            lines.append(f"| {name} | {lec.metric.name} | - | not measured yet | - | {lec.floor:.2f} | {lec.floor:.2f} (floor) |")
            continue
        mean, sd = _stats(values)
        cpus |= {r["cpu"] for r in lec.spread_rows(rows)}
        threads |= {r["threads"] for r in lec.spread_rows(rows)}
        lines.append(f"| {name} | {lec.metric.name} | {len(values)} | {', '.join(f'{v:.3f}' for v in values)} | "
                     f"{mean:.3f} ± {sd:.3f} | {lec.floor:.2f} | {lec.minimum_of(rows):.2f} |")
    # the thread count changes a run's numbers as another CPU does (its sums round in another order)
    where = f"{'; '.join(sorted(cpus))}, with {' or '.join(map(str, sorted(threads)))} torch threads"
    return "\n".join(lines) + (f"\n\nMeasured on: {where}." if cpus else "")


def update_readme(rows: list[dict], path: Path = ROOT / "README.md") -> None:
    """Replace the README's table between the spread markers with :func:`readme_table`."""
    path.write_text(replace_between(path.read_text(), _START, _END, readme_table(rows), f"{path}: the spread table"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", default=[], help="lecture name or prefix (repeatable; none: "
                   "only print the stored spread and regenerate the README's table)")
    p.add_argument("--seeds", default="5", help="N (seeds 0..N-1) or a comma list, e.g. 5,6")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the record's; a smoke run)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", type=Path, default=None, help=f"JSON file (default: {SPREAD_FILE})")
    p.add_argument("--merge", type=Path, action="append", default=[],
                   help="also merge the rows of this file (e.g. measured on another machine) into --out")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s] if "," in args.seeds else list(range(int(args.seeds)))
    out = args.out or SPREAD_FILE
    shipped_file = Path(out).resolve() == Path(SPREAD_FILE).resolve()
    if args.steps is not None and shipped_file:
        p.error("--steps: a run with another budget must not go into the shipped spread file; give --out")
    if args.threads:
        torch.set_num_threads(args.threads)
    for only in args.only:
        lec = get_lecture(only)
        for seed in seeds:
            row = measure(lec.name, seed, args.steps, progress=args.progress)
            store(out, [row])                                 # each seed lands at once: a long run can stop
            print(f"{row['lecture']} seed {seed}: {row['metric']} {row['value']:.4f} ({row['seconds']:.0f} s, "
                  f"{row['steps']} steps, {row['threads']} threads)", flush=True)
            if seed == 0:
                print(compare_seed0(row), flush=True)
    for path in args.merge:
        rows = load(path)
        other = [r for r in rows if not get_lecture(r["lecture"]).spread_rows([r])]
        if other and shipped_file:
            p.error(f"--merge: {path} holds rows of another recipe than the record's (e.g. {other[0]['lecture']} "
                    f"seed {other[0]['seed']}: {other[0]['steps']} steps, batch {other[0]['batch_size']}, lr "
                    f"{other[0]['lr']}, recipe {other[0].get('recipe')} where the record's is "
                    f"{get_lecture(other[0]['lecture']).recipe}); they must not replace the shipped spread")
        store(out, rows)
    rows = load(out)
    print(summary(rows))
    if shipped_file:
        update_readme(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
