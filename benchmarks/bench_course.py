"""How long the course takes: every lecture executed headless at default parameters (``make course``),
each lecture's seconds, training seconds and steps, the total, and its ratio to the 15-minute target.

Budgets are optimizer steps, so the numbers the lectures print are the same on any machine; only these
seconds depend on it. ``--quick`` runs the smoke versions (a sanity pass of the plumbing only).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posecourse_tools import course  # noqa: E402

TARGET_SECONDS = course.COURSE_TARGET_SECONDS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke versions only")
    ap.add_argument("--only", default=None)
    args = ap.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="bench-course-"))
    argv = ["--out", str(out), "--json", str(out / "all.json"), "--no-check"] + (["--smoke"] if args.quick else [])
    rc = course.main(argv + (["--only", args.only] if args.only else []))
    rows = json.loads((out / "all.json").read_text()) if (out / "all.json").exists() else []
    total = sum(r["seconds"] for r in rows)
    for r in rows:
        print(f"{r['lecture']:<14} {r['seconds']:7.1f} s wall, {r.get('train_seconds', 0):7.1f} s training, "
              f"{r.get('steps', 0):6} steps")
        for c in r.get("slowest_cells", [])[:3]:
            print(f"    cell {c['cell']:>3} {c['seconds']:7.1f} s  {c['source']}")
    print(f"total {total:.1f} s = {total / 60:.1f} min; target {TARGET_SECONDS / 60:.0f} min: "
          f"ratio {total / TARGET_SECONDS:.2f} ({'met' if total <= TARGET_SECONDS else 'NOT met'})")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
