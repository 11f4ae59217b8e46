"""The lecture minimums from a seed spread (posecourse.lectures: ``floor``, ``spread``, ``minimum``): the stored
spread file and the rule max(floor, mean - 3 sd) rounded down to 0.01."""
from __future__ import annotations

import json
import statistics
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from posecourse.evaluation import PCK
from posecourse.lectures import LECTURES, SPREAD_FILE, SPREAD_SEEDS, get_lecture

KEYS = {"lecture", "seed", "metric", "value", "steps", "batch_size", "lr", "recipe", "cpu", "threads", "torch", "date",
        "seconds"}


def _rows(lec, values, **kw):
    return [{"lecture": lec.name, "seed": s, "value": v, "steps": lec.steps, "batch_size": lec.batch_size,
             "lr": lec.lr, "recipe": lec.recipe, **kw} for s, v in enumerate(values)]


def test_stored_spread_covers_five_seeds_at_or_above_each_floor():
    """Every lecture in the shipped spread file has >= 5 seeds of its current recipe, each at or above its floor
    (a seed below the floor means the recipe needs a better run, not a lower bar), and its minimum is met by
    every stored seed; a lecture without a spread falls back to its floor, visibly (``spread`` is None)."""
    rows = json.loads(SPREAD_FILE.read_text())
    assert all(KEYS <= set(r) for r in rows), "a row lacks one of the fields posecourse_tools.spread writes"
    assert len({(r["lecture"], r["seed"]) for r in rows}) == len(rows), "one row per (lecture, seed)"
    covered = {r["lecture"] for r in rows}
    assert covered <= set(LECTURES)
    for name, lec in LECTURES.items():
        if name not in covered:
            assert lec.spread is None and lec.minimum == lec.floor
            continue
        values = lec.spread
        assert values is not None and len(values) >= SPREAD_SEEDS, f"{name}: fewer than {SPREAD_SEEDS} seeds of the current recipe"
        assert min(values) >= lec.floor, f"{name}: a seed ({min(values):.3f}) is below the floor {lec.floor}"
        assert lec.floor <= lec.minimum <= min(values)
        assert {r["metric"] for r in rows if r["lecture"] == name} == {lec.metric.name}


_value = st.floats(0.0, 1.0, allow_nan=False)


@given(st.sampled_from(list(LECTURES)), st.lists(_value, min_size=SPREAD_SEEDS, max_size=12))
def test_minimum_is_the_floor_raised_by_mean_minus_three_sd(name, values):
    lec = get_lecture(name)
    rows = _rows(lec, values)
    m = lec.minimum_of(rows)
    rule = statistics.fmean(values) - 3 * statistics.stdev(values)
    assert lec.floor <= m <= max(lec.floor, rule + 1e-9)        # never below the floor, never above the rule
    assert m == lec.floor or m > rule - 0.01                      # the rule, rounded down to 0.01
    assert abs(round(m * 100) - m * 100) < 1e-6                   # a readable number
    assert m <= max(lec.floor, min(values))  # every measured seed passes, unless it is below the floor itself


@given(st.sampled_from(list(LECTURES)), st.lists(_value, max_size=SPREAD_SEEDS - 1))
def test_fewer_than_five_seeds_leave_the_floor(name, values):
    lec = get_lecture(name)
    assert lec.spread_of(_rows(lec, values)) is None and lec.minimum_of(_rows(lec, values)) == lec.floor


def test_rows_of_another_recipe_or_lecture_do_not_count():
    lec = get_lecture("02_cpm")
    good = _rows(lec, [0.95] * 4 + [0.96])
    assert lec.spread_of(good) == (0.95, 0.95, 0.95, 0.95, 0.96) and lec.minimum_of(good) > lec.floor
    for change in ({"recipe": "0" * 12}, {"lecture": "01_deeppose"}):
        assert lec.spread_of([{**r, **change} for r in good]) is None
    # rows stored before recipes were recorded do not count
    assert lec.spread_of([{k: v for k, v in r.items() if k != "recipe"} for r in good]) is None
    # a new recipe needs a new spread: any field a run's result depends on, not only the step budget
    for changed in (lec.replace(steps=lec.steps + 1), lec.replace(lr=lec.lr * 2), lec.replace(batch_size=1),
                    lec.replace(codec=replace(lec.codec, sigma=2.0)), lec.replace(model_kw={"num_stages": 2}),
                    lec.replace(data=replace(lec.data, n_val=128)), lec.replace(metric=PCK(0.1))):
        assert changed.recipe != lec.recipe and changed.minimum_of(good) == changed.floor


def test_stored_rows_carry_their_records_recipe():
    """The shipped rows name the recipe they were measured with; each is its lecture's current one (a row of an
    old recipe is ignored by the rule, so it would only be clutter)."""
    rows = json.loads(SPREAD_FILE.read_text())
    stale = [(r["lecture"], r["seed"]) for r in rows if r["recipe"] != get_lecture(r["lecture"]).recipe]
    assert not stale, f"spread rows of an older recipe: {stale} (python -m posecourse_tools.spread remeasures them)"
