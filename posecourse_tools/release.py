"""The student release and the start page: ``python -m posecourse_tools.release start|build|scan``.

* ``start`` rewrites the generated table of ``START.md`` (between ``<!-- course:start -->`` and
  ``<!-- course:end -->``) from the lecture records (:data:`posecourse.lectures.LECTURES`), the measured
  seconds in ``lectures/results.json`` and the notebooks themselves (reading estimate, exercise tasks and
  points); ``start --check`` fails when the stored table is stale.
* ``build [--out DIR]`` copies what a course hands to students (``make release``): the start page, the lectures,
  the exercises as generated for students, the library with its shipped checkpoints, the self-check
  (:mod:`posecourse_tools.check`) and a Makefile/README of its own. Nothing from :data:`INSTRUCTORS_ONLY`
  goes in, and the copy is scanned (:func:`scan`) before it is declared built.
* ``scan DIR`` reports every solution region, hidden test and lecture answer of this repository found in
  ``DIR`` (any text file, notebooks read cell by cell).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .markers import replace_between

ROOT = Path(__file__).resolve().parents[1]

#: Paths (relative to the repository root) that hold answers, hidden tests or grading: never released.
INSTRUCTORS_ONLY = ("solutions", "docs/instructors.md", "posecourse_tools/grading", "tests", "benchmarks",
                    "gradebook.db", "posecourse_tools/release.py", "posecourse_tools/site")

#: What a student release holds (files or folders, relative to the repository root).
RELEASED = ("START.md", "lectures", "exercises", "posecourse", "posecourse_tools/__init__.py",
            "posecourse_tools/check.py", "posecourse_tools/checkpoints.py", "posecourse_tools/capstone.py",
            "posecourse_tools/stages.py",
            "docs/training.md", "docs/loaders.md", "pyproject.toml", "environment.yml", ".lab")

# hidden files too: e.g. a lecture's ".<name>.executing.ipynb" while the course runner re-executes it
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.egg-info")

# Reading estimate (stated on the start page): prose at 100 words a minute (technical text with equations),
# code at 6 non-blank lines a minute, one minute per stored figure; exercises add 10 minutes per point.
WORDS_PER_MIN, CODE_LINES_PER_MIN, MIN_PER_FIGURE, MIN_PER_POINT = 100, 6, 1.0, 10

START_BEGIN, START_END = "<!-- course:start -->", "<!-- course:end -->"


# --------------------------------------------------------------------------------------------- start page
def _read_nb(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4)


def reading_minutes(path: Path) -> int:
    """Reading estimate of a notebook in minutes (see the constants above)."""
    nb = _read_nb(path)
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    code = sum(1 for c in nb.cells if c.cell_type == "code" for ln in c.source.splitlines() if ln.strip())
    figures = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if any(k.startswith("image/") for k in o.get("data", {})))
    return round(words / WORDS_PER_MIN + code / CODE_LINES_PER_MIN + figures * MIN_PER_FIGURE)


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str  #: what it is about (the notebook's heading after the dash)
    tasks: tuple[str, ...]  #: "1.1", "1.2", ...
    points: int
    reading_min: int

    @property
    def minutes(self) -> int:
        return self.reading_min + MIN_PER_POINT * self.points


def read_exercise(path: Path) -> Exercise:
    """Title, tasks and points of a student exercise notebook (nbgrader metadata)."""
    nb = _read_nb(path)
    heading = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
    title = heading.split("—", 1)[-1].split(":", 1)[-1].strip()
    tasks = tuple(m.group(1) for c in nb.cells if c.cell_type == "markdown"
                  for m in [re.match(r"\*\*(\d+\.\d+)\*\*", c.source)] if m)
    points = sum(int(c.metadata.get("nbgrader", {}).get("points", 0)) for c in nb.cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    return Exercise(path.stem, title, tasks, points, reading_minutes(path))


def _results(root: Path) -> dict:
    path = root / "lectures" / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the measured run times are missing (make course writes them)")
    return {r["lecture"]: r for r in json.loads(path.read_text())}


def _fmt_min(minutes: float) -> str:
    minutes = round(minutes)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def start_table(root: Path = ROOT) -> str:
    """The start page's generated part: one row per lecture record, then the extra notebook."""
    from posecourse.lectures import LECTURES

    results = _results(root)
    lines = ["| step | lecture (open it) | run time (measured, 2-core CPU) | reading (estimate) | exercise | "
             "what you write | points | exercise time (estimate) |",
             "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for i, lec in enumerate(LECTURES.values(), 1):
        if lec.name not in results:
            raise KeyError(f"lectures/results.json: no entry for lecture {lec.name!r} (make course writes it)")
        run_s = results[lec.name]["seconds"]
        read = reading_minutes(root / lec.notebook)
        ex = read_exercise(root / "exercises" / f"{lec.exercise}.ipynb")
        total += run_s / 60 + read + ex.minutes
        lines.append(f"| {i} | [{lec.title.split(':')[0]}]({lec.notebook}) | {run_s / 60:.1f} min | {_fmt_min(read)} | "
                     f"[{ex.name}](exercises/{ex.name}.ipynb) | {ex.title} (tasks {', '.join(ex.tasks)}) | "
                     f"{ex.points} | {_fmt_min(ex.minutes)} |")
    for extra in notebooks(root / "lectures" / "extra"):  # optional notebooks: no record, no exercise
        heading = next((c.source.splitlines()[0].lstrip("# ").strip() for c in _read_nb(extra).cells
                        if c.cell_type == "markdown" and c.source.startswith("#")), extra.stem)
        title = heading.split("—", 1)[-1].strip()
        lines.append(f"| extra | [{title[:1].upper() + title[1:]}]({extra.relative_to(root).as_posix()}) | "
                     f"optional | {_fmt_min(reading_minutes(extra))} | | | | |")
    lines.append("")
    lines.append(f"In all about {_fmt_min(total)} for the five lectures and exercises, at the estimates above.")
    return "\n".join(lines)


def _replace_block(text: str, block: str, path: Path) -> str:
    return replace_between(text, START_BEGIN, START_END, block, f"{path}: the lecture table")


def update_start(root: Path = ROOT, check: bool = False) -> bool:
    """Write START.md's generated table; with ``check``, only say whether it is current (see
    :func:`start_differences`)."""
    path = root / "START.md"
    text = path.read_text()
    if check:
        return not start_differences(root)
    path.write_text(_replace_block(text, start_table(root), path))
    return True


_MINUTES = re.compile(r"^(?:(\d+) h )?(\d+(?:\.\d+)?) min$")


def _minutes(cell: str) -> float | None:
    m = _MINUTES.match(cell.strip())
    return None if not m else int(m.group(1) or 0) * 60 + float(m.group(2))


def _rows(block: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in block.splitlines() if ln.startswith("|")]


def start_differences(root: Path = ROOT, tolerance: float = 0.15) -> list[str]:
    """How START.md's stored table differs from :func:`start_table` now. Lectures, links, exercises, tasks and
    points must be equal; a time (measured run time, reading and exercise estimates) may be off by
    ``tolerance`` (relative; at least 0.2 min): the lectures' prose and re-executions move them a little, and
    the release and the website always carry a freshly generated table (:func:`build`)."""
    text = (root / "START.md").read_text()
    if START_BEGIN not in text or START_END not in text:
        return [f"START.md: the markers {START_BEGIN} ... {START_END} are missing"]
    stored = _rows(text.split(START_BEGIN, 1)[1].split(START_END, 1)[0])
    fresh = _rows(start_table(root))
    if len(stored) != len(fresh):
        return [f"START.md: {len(stored)} table rows, the records give {len(fresh)}"]
    problems = []
    for old, new in zip(stored, fresh):
        if len(old) != len(new):
            problems.append(f"row {new[:2]}: {len(old)} columns, expected {len(new)}")
            continue
        for a, b in zip(old, new):
            ma, mb = _minutes(a), _minutes(b)
            if ma is not None and mb is not None:
                if abs(ma - mb) > max(0.2, tolerance * mb):
                    problems.append(f"row {new[1]}: {a!r}, now {b!r}")
            elif a != b:
                problems.append(f"row {new[1]}: {a!r}, now {b!r}")
    return problems


# --------------------------------------------------------------------------------------------- secrets
def _regions(source: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{re.escape(begin)}\n?(.*?){re.escape(end)}", source, flags=re.S)


def _norm(text: str) -> str:
    return " ".join(text.split())


def notebooks(folder: Path) -> list[Path]:
    """The notebooks under ``folder``, without hidden files and folders (checkpoints, runs in progress)."""
    return sorted(p for p in Path(folder).rglob("*.ipynb")
                  if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _public_text(root: Path) -> str:
    """Everything students may see anyway (lectures, student exercises, the library), whitespace-normalized:
    a solution line that also appears there (a library function the solution mirrors) is no secret."""
    parts = []
    for nb_path in [*notebooks(root / "lectures"), *notebooks(root / "exercises")]:
        parts.extend(_notebook_texts(nb_path))
    parts.extend(p.read_text(errors="replace") for p in (root / "posecourse").rglob("*.py"))
    return _norm("\n".join(parts))


@dataclass(frozen=True)
class Secret:
    where: str  #: e.g. "solutions/ex01_deeppose.ipynb: solution" or "solutions/answers.md"
    text: str  #: whitespace-normalized


def secrets(root: Path = ROOT, min_chars: int = 30) -> list[Secret]:
    """The distinctive texts of the instructors' material: lines of every solution region and hidden-test
    block in ``solutions/*.ipynb`` and sentences of ``solutions/answers.md`` that are at least ``min_chars``
    long and appear nowhere in the public material."""
    public = _public_text(root)
    found: dict[str, Secret] = {}

    def add(where: str, text: str) -> None:
        t = _norm(text)
        if len(t) >= min_chars and t not in public and t not in found:
            found[t] = Secret(where, t)

    for nb_path in sorted((root / "solutions").glob("*.ipynb")):
        for cell in _read_nb(nb_path).cells:
            regions = [("solution", r) for r in _regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")]
            regions += [("hidden test", r) for r in
                        _regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
            for kind, region in regions:
                for line in region.splitlines():
                    add(f"solutions/{nb_path.name}: {kind}", line)
    answers = root / "solutions" / "answers.md"
    if answers.is_file():
        for para in re.split(r"\n\s*\n", answers.read_text()):
            if para.lstrip().startswith("#"):
                continue
            for sentence in re.split(r"(?<=[.:;!?])\s+", _norm(para)):
                add("solutions/answers.md", sentence)
    return list(found.values())


def _notebook_texts(path: Path) -> list[str]:
    nb = _read_nb(path)
    texts = []
    for cell in nb.cells:
        texts.append(cell.source)
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append(out["text"])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") or mime.endswith("json"):
                    texts.append(value if isinstance(value, str) else json.dumps(value))
    return texts


def _file_text(path: Path) -> str | None:
    if path.suffix == ".ipynb":
        return "\n".join(_notebook_texts(path))
    try:
        return path.read_text()
    except (UnicodeDecodeError, OSError):
        return None  # a binary file (checkpoint, image): no text to leak


def scan(folder: Path, root: Path = ROOT, known: list[Secret] | None = None) -> list[str]:
    """Every instructors' text (:func:`secrets`) found in a file under ``folder``, as 'file: where: text'."""
    known = secrets(root) if known is None else known
    leaks = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        text = _file_text(path)
        if text is None:
            continue
        text = _norm(text)
        leaks += [f"{path.relative_to(folder)}: {s.where}: {s.text[:80]!r}" for s in known if s.text in text]
        for name in ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "BEGIN MARK SCHEME"):
            if name in text:
                leaks.append(f"{path.relative_to(folder)}: nbgrader marker {name!r}")
    return leaks


# --------------------------------------------------------------------------------------------- release
RELEASE_MAKEFILE = """\
# The student release of posecourse: `make lab` (sets up .venv, then opens JupyterLab on START.md),
# `make check EX=01` (runs an exercise's tests on your notebook and says what failed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
{torch}
STAMP := $(VENV)/.posecourse-installed
EX ?=

.PHONY: install lab check clean

$(STAMP): pyproject.toml
\ttest -x $(PY) || $(PYTHON) -m venv $(VENV)
\t$(PY) -m pip install --quiet --upgrade pip
{install_torch}
\t$(PY) -m pip install --quiet -e .
\ttouch $@

install: $(STAMP)

lab: $(STAMP)
\t$(VENV)/bin/jupyter lab --LabApp.app_settings_dir=.lab START.md

check: $(STAMP)
\t$(PY) -m posecourse_tools.check $(EX)

clean:
\trm -rf $(VENV)
"""

RELEASE_README = """\
# posecourse — a course on 2D human pose estimation (student release)

## Taking the course

```bash
make lab
```

sets up `.venv` (Python >= 3.10; the CPU build of PyTorch, see "PyTorch" below) and opens JupyterLab on
**`START.md`**, the start page: the order of the five lectures and their exercises, prerequisites, time, and how
to check and submit your work. Lectures are in `lectures/`, exercises in `exercises/`.

```bash
make check EX=01
```

runs exercise 1's tests on your own `exercises/ex01_deeppose.ipynb` and says which test failed and why.

## PyTorch

{torch_text}
"""


def _makefile_torch_block(root: Path) -> tuple[str, str]:
    """The torch variables and install recipe lines of the repository's Makefile, for the release's own."""
    mk = (root / "Makefile").read_text()
    block = re.search(r"^# --- torch ---\n(.*?)^# --- end torch ---\n", mk, flags=re.S | re.M)
    recipe = re.search(r"^# --- install torch ---\n(.*?)^# --- end install torch ---\n", mk, flags=re.S | re.M)
    if not block or not recipe:
        raise ValueError("Makefile: the '# --- torch ---' / '# --- install torch ---' sections are missing")
    install = "\n".join(ln for ln in recipe.group(1).splitlines() if ln.startswith("\t"))
    return block.group(1).rstrip("\n"), install


def _readme_torch_text(root: Path) -> str:
    readme = (root / "README.md").read_text()
    section = re.search(r"^## Installing PyTorch\n(.*?)(?=^## )", readme, flags=re.S | re.M)
    if not section:
        raise ValueError("README.md: the '## Installing PyTorch' section is missing")
    return section.group(1).strip()


def build(out: Path, root: Path = ROOT, force: bool = False) -> Path:
    """Build the student release in ``out`` (refuses a non-empty ``out`` unless ``force``); returns ``out``.

    Raises ``RuntimeError`` listing any instructors' text found in the result (nothing is left behind then).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"--out {out}: exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    for rel in RELEASED:
        src = root / rel
        if not src.exists():
            raise FileNotFoundError(f"{src}: part of the release, missing")
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=_IGNORED)
        else:
            shutil.copy2(src, dst)
    (out / "START.md").write_text(_replace_block((root / "START.md").read_text(), start_table(root), root / "START.md"))
    torch_vars, torch_install = _makefile_torch_block(root)
    (out / "Makefile").write_text(RELEASE_MAKEFILE.format(torch=torch_vars, install_torch=torch_install))
    (out / "README.md").write_text(RELEASE_README.format(torch_text=_readme_torch_text(root)))
    leaks = scan(out, root)
    if leaks:
        shutil.rmtree(out)
        raise RuntimeError("the release would hold instructors' material:\n  " + "\n  ".join(leaks[:20]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m posecourse_tools.release", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="regenerate START.md's table from the records and results.json")
    s.add_argument("--check", action="store_true", help="only check that START.md's table is current")
    b = sub.add_parser("build", help="build the student release")
    b.add_argument("--out", type=Path, default=ROOT / "release", help="folder to build into (default: release/)")
    b.add_argument("--force", action="store_true", help="replace a non-empty --out")
    c = sub.add_parser("scan", help="list instructors' texts found in a folder")
    c.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "start":
        if args.check:
            problems = start_differences(ROOT)
            print("START.md is current" if not problems else
                  "START.md's table is stale (run `make start`):\n  " + "\n  ".join(problems))
            return 1 if problems else 0
        update_start(ROOT)
        print("START.md: table regenerated")
        return 0
    if args.cmd == "build":
        out = build(args.out, ROOT, force=args.force)
        n = sum(1 for f in out.rglob("*") if f.is_file())
        print(f"student release: {out} ({n} files; no solutions, hidden tests or answers found in it)")
        print(f"  cd {out} && make lab")
        return 0
    leaks = scan(args.folder)
    print("\n".join(leaks) if leaks else f"{args.folder}: no instructors' text found")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
