"""The widgets work in a real JupyterLab, in a real (headless) browser.

For the fixture notebook and every lecture (``lectures/0*.ipynb``, prepared with ``smoke=True``):
start JupyterLab on loopback, open the notebook in Chromium, Run > Run All Cells, wait for the
kernel, then check that every widget view rendered (no "Error displaying widget", no "Loading
widget..." left, no error outputs) and that moving a control of each explorer changes the image in
its ``Output``. Screenshots go to ``$POSECOURSE_SCREENSHOTS`` (default: the test's tmp dir); the path
is printed. Skips with the reason when Chromium or Playwright is missing (``.ci/install-browser``).

Separately (no browser): a notebook executed with nbclient ``store_widget_state=True`` exports to
HTML with the widget state embedded.
"""
from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

from browser_support import (WIDGET_STATE_MIME, WIDGET_VIEW_MIME, BrowserTestError, JupyterLab, LabPage,
                             export_html_with_widgets, prepare_notebook)
from paths import ROOT, TESTS

FIXTURE = TESTS / "fixtures" / "widget_demo.ipynb"
# $POSECOURSE_BROWSER_NOTEBOOKS (paths joined by os.pathsep) replaces the lectures, e.g. to check one
NOTEBOOKS = [FIXTURE] + ([Path(p) for p in os.environ["POSECOURSE_BROWSER_NOTEBOOKS"].split(os.pathsep)]
                         if os.environ.get("POSECOURSE_BROWSER_NOTEBOOKS")
                         else sorted((ROOT / "lectures").glob("0*.ipynb")))


def _shots_dir(tmp_path: Path, name: str) -> Path:
    base = os.environ.get("POSECOURSE_SCREENSHOTS")
    return (Path(base) if base else tmp_path / "screenshots") / name


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    """One JupyterLab server for the module; each test works in its own folder under its root."""
    with JupyterLab(tmp_path_factory.mktemp("lab-root")) as server:
        yield server


def _has_widgets(src: Path) -> bool:
    """Does the notebook build a widget (an explorer from posecourse.viz.widgets, or ipywidgets)?"""
    code = "\n".join(c.source for c in nbformat.read(src, as_version=4).cells if c.cell_type == "code")
    return "widgets." in code or "ipywidgets" in code


@contextmanager
def lab_page(browser, lab, shots):
    """A fresh browser context on ``lab``; closed, and the kernels shut down, afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield LabPage(context.new_page(), lab, shots)
    finally:
        context.close()
        lab.shutdown_kernels()


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(600)
@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.stem)
def test_widgets_in_jupyterlab(src, lab, browser, tmp_path):
    folder = lab.root / src.stem
    folder.mkdir()
    nb_path = prepare_notebook(src, folder, {"smoke": True})
    shots = _shots_dir(tmp_path, src.stem)
    print(f"\nscreenshots: {shots}")
    with lab_page(browser, lab, shots) as page:
        page.open(f"{src.stem}/{nb_path.name}")
        page.run_all(timeout=420)
        page.wait_widgets_rendered()
        page.screenshot("after-run-all")

        assert page.problems() == [], f"{src.name}: {page.problems()} (see {shots})"
        n = page.widget_areas().count()
        if _has_widgets(src):
            assert page.notebook.locator(".jupyter-widgets").count() > 0, "no widget view rendered"
            assert page.notebook.locator(".widget-output").count() > 0, "no Output widget rendered"
            assert n > 0, f"{src.name}: no explorer (widget with an Output) found"
        else:  # (lecture 1 has no explorer: the run itself, without errors, is what is checked)
            assert n == 0
        for i in range(n):  # every explorer reacts to a control (the fixture: to every kind of control)
            kinds = page.controls(page.widget_areas().nth(i))
            assert kinds, f"{src.name}: explorer {i} has no dropdown or slider"
            changed, failures = [], []
            for kind in kinds:
                try:
                    print(f"explorer {i}: {page.interaction_changes_output(i, kind)}")
                    changed.append(kind)
                    if src != FIXTURE:  # one reacting control is proof enough; each wait can cost a minute
                        break
                except BrowserTestError as e:
                    failures.append(str(e))
            assert changed if src != FIXTURE else not failures, f"{src.name}: {failures} (see {shots})"
        assert page.problems() == [], f"{src.name} after interacting: {page.problems()}"

        page.save()
        saved = nbformat.read(nb_path, as_version=4)
        injected = [c for c in saved.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and "smoke = True" in injected[0].source, "papermill parameters were not injected"
        for cell in saved.cells:
            if cell.cell_type == "code":
                assert isinstance(cell.execution_count, int), f"cell not run: {cell.source[:60]!r}"
                errors = [o for o in cell.outputs if o.output_type == "error"]
                assert not errors, f"{src.name}: {errors[0].ename}: {errors[0].evalue}"
        if _has_widgets(src):
            assert WIDGET_STATE_MIME in saved.metadata.get("widgets", {}), "JupyterLab saved no widget state"
        if src == FIXTURE:
            assert "smoke run" in saved.cells[-1].outputs[0].text, "smoke=True did not reach the kernel"
        html, _ = HTMLExporter().from_notebook_node(saved)  # what nbviewer / a static page would show
        if _has_widgets(src):
            assert WIDGET_STATE_MIME in html and WIDGET_VIEW_MIME in html
        shots.joinpath(f"{src.stem}.html").write_text(html)


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_html_export_embeds_widget_state(tmp_path):
    nb_path = prepare_notebook(FIXTURE, tmp_path, {"smoke": True})
    nb, html = export_html_with_widgets(nb_path)
    assert WIDGET_STATE_MIME in html, "no widget state in the exported page"
    assert WIDGET_VIEW_MIME in html, "no widget view bundle in the exported page"
    assert "IntSlider" in html and "Dropdown" in html and "OutputModel" in html
    # the course's Explorer also carries a static PNG fallback next to its widget view
    bundles = [o.data for c in nb.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
    assert any(WIDGET_VIEW_MIME in d and "image/png" in d for d in bundles), "no static fallback figure"
    assert "data:image/png;base64" in html
    (tmp_path / "widget_demo.html").write_text(html)


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_harness_catches_broken_notebook(lab, browser, tmp_path):
    """The checks can fail: an explorer whose callback never redraws, and a cell that raises."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import ipywidgets as W\nimport matplotlib.pyplot as plt\nfrom IPython.display import display\n"
            "out = W.Output()\nfig = plt.figure(figsize=(1, 1)); fig.gca().plot([0, 1])\n"
            "with out:\n    display(fig)\nplt.close(fig)\n"
            "W.VBox([W.Dropdown(options=['a', 'b']), out])  # nothing observes the dropdown"),
        nbformat.v4.new_code_cell("raise ValueError('boom')"),
    ]
    (lab.root / "broken").mkdir()
    nbformat.write(nb, lab.root / "broken" / "broken.ipynb")
    with lab_page(browser, lab, _shots_dir(tmp_path, "broken")) as page:
        page.open("broken/broken.ipynb")
        page.run_all(timeout=120)
        page.wait_widgets_rendered()
        assert page.problems() == ["1 error output(s)"]
        assert page.widget_areas().count() == 1 and page.controls(page.widget_areas().nth(0)) == ["dropdown"]
        with pytest.raises(BrowserTestError, match="unchanged"):
            page.interaction_changes_output(0, "dropdown", timeout=3)


# --------------------------------------------------------------------------- the student's path
def make_lab_args(root: Path = ROOT) -> list[str]:
    """The arguments ``make lab`` gives ``jupyter lab`` (from the Makefile itself, dry run)."""
    out = subprocess.run(["make", "-n", "lab", "VENV=/nonexistent-venv"], cwd=root, capture_output=True, text=True,
                         timeout=60)
    line = [ln for ln in out.stdout.splitlines() if "jupyter lab" in ln]
    assert out.returncode == 0 and line, out.stdout + out.stderr
    return line[-1].split("jupyter lab", 1)[1].split()


_FIRST_TEST_CELL_JS = """() => {
    const nb = window.jupyterapp.shell.currentWidget.content;
    for (let i = 0; i < nb.model.cells.length; i++) {
        const g = nb.model.cells.get(i).getMetadata('nbgrader') || {};
        if (g.grade && !g.solution) return i;
    }
    return -1;
}"""


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.browser
@pytest.mark.timeout(400)
def test_student_path_from_the_start_page(browser, tmp_path):
    """JupyterLab as `make lab` starts it, on the student release: the start page opens rendered, its link opens
    lecture 1, the lecture's closing link opens exercise 1, and the exercise's first test cell runs (and, with
    nothing written yet, says so). A screenshot of each step."""
    from posecourse_tools import release

    course = release.build(tmp_path / "course")
    shots = _shots_dir(tmp_path, "student-path")
    print(f"\nscreenshots: {shots}")
    with JupyterLab(course, args=make_lab_args()) as lab:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        try:
            page = LabPage(context.new_page(), lab, shots)
            current = "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.context ? w.context.path : ''; }"
            page.page.goto(lab.url("lab/tree/START.md?reset"), timeout=90_000)
            start = page.page.locator(".jp-RenderedMarkdown", has_text="Start here")
            start.first.wait_for(timeout=90_000)  # a Markdown preview (the .lab default viewer), not the editor
            page.screenshot("1-start-page")

            start.first.locator("a", has_text="DeepPose").first.click()
            page._wait(lambda: page._js(current) == "lectures/01_deeppose.ipynb", 90, lambda: page._js(current))
            page.notebook.locator(".jp-Cell").first.wait_for(timeout=90_000)
            page.wait_kernel_idle(120)
            page.screenshot("2-lecture-1")

            link = page.notebook.locator(".jp-RenderedMarkdown a", has_text="ex01_deeppose").last
            link.scroll_into_view_if_needed()
            page.screenshot("3-lecture-1-exercise-link")
            link.click()
            page._wait(lambda: page._js(current) == "exercises/ex01_deeppose.ipynb", 90, lambda: page._js(current))
            page.notebook.locator(".jp-Cell").first.wait_for(timeout=90_000)
            page.wait_kernel_idle(120)
            page.screenshot("4-exercise-1")

            index = page._js(_FIRST_TEST_CELL_JS)
            assert index > 0, "exercise 1 has no test cell (nbgrader grade metadata)"
            page._js(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}; }}")
            page._js("() => window.jupyterapp.commands.execute('notebook:run-all-above')")
            page.wait_kernel_idle(120)
            page._js("() => window.jupyterapp.commands.execute('notebook:run-cell')")
            cell = page.notebook.locator(".jp-Cell").nth(index)
            page._wait(lambda: cell.locator(".jp-InputPrompt").inner_text().strip().rstrip(":")[1:-1].isdigit(),
                       120, lambda: cell.locator(".jp-InputPrompt").inner_text())
            page.wait_kernel_idle(120)
            cell.scroll_into_view_if_needed()
            page.screenshot("5-first-test-cell")
            assert "NotImplementedError" in cell.inner_text(), cell.inner_text()[-500:]
        finally:
            context.close()
