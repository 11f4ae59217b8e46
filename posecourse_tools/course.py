"""Run every lecture notebook headless with papermill and print a table of results.

``python -m posecourse_tools.course`` (what ``make course`` runs) executes each lecture of
:data:`posecourse.lectures.LECTURES` in order, with ``results_path`` set, into a scratch folder (the
stored notebooks are not touched unless ``--inplace``), and prints lecture, seconds and the headline
metric each lecture wrote. Exits non-zero if a lecture fails or misses its record's ``minimum``
(``--no-check`` to only report).

Options: ``--smoke`` (each lecture's seconds-long version), ``--seed N``, ``--only 03``, ``--out DIR``,
``--inplace`` (store the executed notebooks back into ``lectures/``, how the committed outputs are
regenerated: written to a temporary file and renamed over the stored one only when the run succeeded
and met its minimum, printed text stored as a reader sees it, a progress bar as its final line; their
results go into ``lectures/results.json`` and the README's results table is regenerated from that file),
``--use-shipped`` (each lecture's slow-laptop mode: the shipped checkpoint instead of the live training;
never stored), ``--json FILE`` (all results in one file), ``--root DIR`` (the course checkout),
``--refresh-listings`` (executes nothing: re-renders the stored lectures' source listings from the current
library source, :func:`refresh_listings`, after a library change that moved or edited code they show).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from posecourse.lectures import LECTURES

from .markers import replace_between

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 1800  #: seconds one cell may run before the lecture counts as failed (no run hangs for ever)


def run_lecture(name: str, root: Path, out_dir: Path, *, smoke: bool, seed: int, inplace: bool = False,
                check: bool = True, extra: dict | None = None) -> dict:
    """Execute one lecture with papermill; return its results JSON plus ``seconds`` (wall).

    With ``inplace`` the executed notebook replaces the stored one atomically, and only if the run
    succeeded (and, with ``check``, met the lecture's minimum); otherwise the stored one is untouched.
    """
    import papermill as pm

    lec = LECTURES[name]
    path = root / lec.notebook
    if not path.is_file():
        raise FileNotFoundError(f"{name}: notebook {path} not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / f"{name}.json"
    results.unlink(missing_ok=True)
    target = path.with_name(f".{path.stem}.executing.ipynb") if inplace else out_dir / path.name
    params = {"seed": seed, "smoke": smoke, "results_path": str(results), **(extra or {})}
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(path), str(target), parameters=params, kernel_name="python3", cwd=str(path.parent),
                            progress_bar=False, execution_timeout=CELL_TIMEOUT)
        if not results.exists():
            raise RuntimeError(f"{path.name} ran but wrote no results to results_path={results}")
        res = json.loads(results.read_text())
        res["seconds"] = time.perf_counter() - t0
        # what else ran beside it: the seconds mean little on a busy machine (load average above its cores)
        res["load_average"], res["cpus"] = round(os.getloadavg()[0], 1), os.cpu_count()
        res["slowest_cells"] = slowest_cells(target)
        if check and not smoke and not res.get("value", 0) >= lec.minimum:
            raise RuntimeError(f"{res.get('metric')} = {res.get('value'):.3f} is below the minimum {lec.minimum}")
        if inplace:
            _strip_injected(target)
            os.replace(target, path)
        return res
    finally:
        if inplace and target.exists():
            target.unlink()


def slowest_cells(path: Path, n: int = 5) -> list[dict]:
    """The ``n`` code cells of an executed notebook that took longest (papermill's per-cell ``duration``):
    ``[{"cell": index in the stored notebook, "seconds", "source": its first line}]``, slowest first."""
    import nbformat

    rows, index = [], 0
    for c in nbformat.read(path, as_version=4).cells:
        if "injected-parameters" in c.metadata.get("tags", []):
            continue
        seconds = c.metadata.get("papermill", {}).get("duration")
        if c.cell_type == "code" and seconds is not None:
            rows.append({"cell": index, "seconds": round(float(seconds), 1),
                         "source": (c.source.strip().splitlines() or [""])[0][:70]})
        index += 1
    return sorted(rows, key=lambda r: -r["seconds"])[:n]


def final_text(text: str) -> str:
    """The final state of every line of ``text``: a progress bar redraws its whole line after a carriage
    return (``\\r``), so of each line only the last non-empty text between carriage returns is kept."""
    return "\n".join(next((seg for seg in reversed(line.split("\r")) if seg), "") for line in text.split("\n"))


def clean_streams(cells) -> None:
    """Store each cell's printed text as a reader sees it: consecutive ``stream`` outputs of one name merged,
    carriage-return redraws (progress bars) reduced to their final line (:func:`final_text`). In place."""
    for c in cells:
        outs = []
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream" and outs and outs[-1].get("output_type") == "stream" \
                    and outs[-1].get("name") == o.get("name"):
                outs[-1]["text"] += o["text"]
            else:
                outs.append(o)
        for o in outs:
            if o.get("output_type") == "stream":
                o["text"] = final_text(o["text"])
        if "outputs" in c:
            c["outputs"] = outs


def _strip_injected(path: Path) -> None:
    """Prepare an executed notebook to be stored: drop papermill's injected-parameters cell and run metadata
    (the stored notebook keeps its own defaults, smoke=False, results_path=None, for students) and store
    printed text as a reader sees it (:func:`clean_streams`: a progress bar as its final line)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for c in nb.cells:
        c.metadata.pop("papermill", None)
        c.metadata.pop("execution", None)
    clean_streams(nb.cells)
    nbformat.write(nb, path)


def refresh_listings(path: Path) -> int:
    """Re-render every source listing a stored notebook shows (an output of ``show_source``, named by its
    :data:`~posecourse.viz.source.SOURCE_KEY` metadata) from the current library source: its ``text/plain``
    and ``text/html`` become :func:`~posecourse.viz.source.source_text` and ``source_html`` of the object it
    names, exactly what re-executing the display stores (it is a pure function of the source). Every other
    cell, output and execution count is left as stored; the notebook is rewritten (as ``--inplace`` writes
    it) only if a listing changed. Returns the number of listings that changed."""
    import nbformat

    from posecourse.viz.source import SOURCE_KEY, resolve, source_html, source_text

    nb = nbformat.read(path, as_version=4)
    changed = 0
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            meta = o.get("metadata", {}).get(SOURCE_KEY)
            if meta is None:
                continue
            try:
                shown = resolve(meta["object"]), meta.get("start"), meta.get("stop")
                fresh = {"text/plain": source_text(*shown), "text/html": source_html(*shown)}
            except (AttributeError, ImportError, KeyError, OSError, TypeError, ValueError) as e:
                raise ValueError(f"{path}: cell {i}: the listing of {meta.get('object')!r} cannot be rendered "
                                 f"from the current source ({type(e).__name__}: {e}); re-execute the notebook") from e
            if any(o["data"].get(k) != v for k, v in fresh.items()):
                o["data"].update(fresh)
                changed += 1
    if changed:
        target = path.with_name(f".{path.stem}.refreshing.ipynb")
        nbformat.write(nb, target)
        os.replace(target, path)
    return changed


def minimum_label(lec) -> str:
    """A lecture's minimum and where it comes from: its seed spread, or its floor while no spread is stored
    (``python -m posecourse_tools.spread`` measures one), so a floor never passes silently for a spread."""
    spread = lec.spread
    return f"{lec.minimum:.2f} " + (f"(spread of {len(spread)} seeds)" if spread else "(floor: no spread stored)")


def format_table(rows: list[dict]) -> str:
    lines = [f"{'lecture':<14} {'seconds':>8} {'train s':>8} {'steps':>6}  {'metric':<12} {'value':>7}  minimum",
             "-" * 100]
    for r in rows:
        lec = LECTURES.get(r["lecture"])
        lines.append(f"{r['lecture']:<14} {r['seconds']:>8.1f} {r.get('train_seconds', float('nan')):>8.1f} "
                     f"{r.get('steps', 0):>6}  {r.get('metric', '?'):<12} {r.get('value', float('nan')):>7.3f}  "
                     f"{minimum_label(lec) if lec else ''}")
    lines.append(f"{'total':<14} {sum(r['seconds'] for r in rows):>8.1f}")
    return "\n".join(lines)


COURSE_TARGET_SECONDS = 15 * 60  #: the whole course (make course) on a 2-core CPU
RESULTS = "lectures/results.json"  #: the stored lectures' results, written by --inplace runs
_START, _END = "<!-- results:start -->", "<!-- results:end -->"


def store_results(root: Path, rows: list[dict]) -> Path:
    """Merge ``rows`` into ``lectures/results.json`` (by lecture) and return its path."""
    path = root / RESULTS
    old = {r["lecture"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    old.update({r["lecture"]: r for r in rows})
    path.write_text(json.dumps([old[n] for n in LECTURES if n in old], indent=1) + "\n")
    return path


def readme_table(rows: list[dict]) -> str:
    """The README's results table from the stored results and the shipped checkpoints' metadata."""
    from posecourse.lectures.shipped import checkpoint_meta

    lines = ["| lecture | model | steps × batch | training | whole notebook | metric | value | minimum | shipped checkpoint |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lec = LECTURES[r["lecture"]]
        extra = []
        if "cascade_stage2" in r:
            extra.append(f"cascade stage 2: {r['cascade_stage2']:.3f}")
        stages = r.get("per_stage") or r.get("per_stack")
        if stages and len(stages) > 1:
            extra.append(f"first stage: {stages[0]:.3f}")
        ship = checkpoint_meta(lec.name)
        shipped = f"{ship['value']:.3f} ({ship['steps']:,} steps)" if ship else "-"
        value = f"{r['value']:.3f}" + (f" ({'; '.join(extra)})" if extra else "")
        lines.append(f"| {lec.name} | `{lec.model}` | {r.get('steps', 0):,} × {lec.batch_size} | "
                     f"{r.get('train_seconds', 0):.0f} s | {r.get('seconds', 0):.0f} s | {r['metric']} | {value} | "
                     f"{minimum_label(lec)} | {shipped} |")
    total = sum(r.get("seconds", 0) for r in rows)
    busy = [f"{r['lecture']} (load average {r['load_average']:g} on {r['cpus']} cores)" for r in rows
            if r.get("load_average", 0) > (r.get("cpus") or 1)]
    lines.append(f"\nAll {len(rows)} notebooks: {total:.0f} s = {total / 60:.1f} min of wall time, as measured when each was "
                 f"stored ({COURSE_TARGET_SECONDS // 60} min is the target on a quiet 2-core CPU)."
                 + (f" Stored on a busy machine, so slower than alone: {', '.join(busy)}." if busy else ""))
    return "\n".join(lines)


def update_readme(root: Path, rows: list[dict]) -> None:
    """Replace the README's table between the results markers with :func:`readme_table`."""
    path = root / "README.md"
    path.write_text(replace_between(path.read_text(), _START, _END, readme_table(rows), f"{path}: the results table"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default=None, help="a lecture name or its prefix, e.g. 03")
    ap.add_argument("--out", default=None)
    ap.add_argument("--root", default=str(ROOT), help="the course checkout (holds lectures/)")
    ap.add_argument("--inplace", action="store_true")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--use-shipped", action="store_true",
                    help="the slow-laptop mode: each lecture loads its shipped checkpoint instead of training")
    ap.add_argument("--refresh-listings", action="store_true",
                    help="execute nothing: re-render the stored lectures' source listings from the current source")
    args = ap.parse_args(argv)
    if args.use_shipped and args.inplace:
        ap.error("--use-shipped with --inplace: the stored lectures show the live run; run --use-shipped without it")

    names = [n for n in LECTURES if not args.only or n.startswith(args.only) or args.only in n]
    if not names:
        ap.error(f"--only {args.only}: no lecture matches (lectures: {', '.join(LECTURES)})")
    if args.refresh_listings:
        if args.inplace or args.smoke or args.use_shipped:
            ap.error("--refresh-listings executes nothing: run it without --inplace, --smoke and --use-shipped")
        for name in names:
            path = Path(args.root) / LECTURES[name].notebook
            print(f"{path.name}: {refresh_listings(path)} source listings refreshed")
        return 0
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="posecourse-course-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    for name in names:
        print(f"running {name} ...", flush=True)
        try:
            rows.append(run_lecture(name, Path(args.root), out_dir, smoke=args.smoke, seed=args.seed,
                                    inplace=args.inplace, check=not args.no_check,
                                    extra={"use_shipped": True} if args.use_shipped else None))
        except Exception as e:  # report every lecture, then fail
            failed.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if rows:
        print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    if args.inplace and rows and not args.smoke:
        stored = store_results(Path(args.root), rows)
        update_readme(Path(args.root), json.loads(stored.read_text()))
        print(f"stored {stored} and the README's results table")
    for f in failed:
        print("FAILED", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
