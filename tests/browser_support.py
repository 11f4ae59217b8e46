"""Harness for the browser tests: a real JupyterLab server driven by headless Chromium (Playwright).

- :func:`browser_unavailable` says why the browser test cannot run here (or ``None``).
- :class:`JupyterLab` starts ``jupyter lab`` on loopback (free port, token auth, a temp root dir,
  private settings/workspace dirs, no browser) and kills it, kernels included, on exit.
- :func:`launch_chromium` starts the system Chromium (never a Playwright-downloaded one).
- :class:`LabPage` opens a notebook, runs all cells from the Run menu, waits for the kernel, and
  inspects/drives the widget views.
- :func:`prepare_notebook` writes a papermill-parameterized copy (``smoke=True``) to open.

Every wait is bounded; a timeout raises with what was last seen.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
# Chromium as root needs --no-sandbox; the rest stop it phoning home (refused on a closed network).
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

# User settings for the temp JupyterLab: render every cell (no virtual scrolling, so the DOM holds
# all outputs), no news/update toasts, and widget state saved into the notebook.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}


class BrowserTestError(RuntimeError):
    """A bounded wait ran out, or a page showed something it should not."""


# --------------------------------------------------------------------------- availability
def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$POSECOURSE_CHROMIUM``, else the first of CHROMIUM_CANDIDATES found."""
    env = os.environ.get("POSECOURSE_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_unavailable() -> str | None:
    """Why the browser test cannot run here, or ``None`` when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; run .ci/install-browser)"
    if find_chromium() is None:
        return "no Chromium found (apt-get install chromium, or set POSECOURSE_CHROMIUM; run .ci/install-browser)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- notebooks
def prepare_notebook(src: Path, dst_dir: Path, parameters: dict | None = None) -> Path:
    """Copy ``src`` into ``dst_dir`` with papermill's parameters injected (not executed)."""
    import papermill

    dst = Path(dst_dir) / Path(src).name
    papermill.execute_notebook(str(src), str(dst), parameters=parameters or {"smoke": True},
                               prepare_only=True, kernel_name="python3", progress_bar=False)
    return dst


def export_html_with_widgets(src: Path, timeout: int = 300):
    """Execute ``src`` with nbclient, storing the widget state, and export it to HTML.

    Returns ``(notebook, html)``: the executed ``NotebookNode`` and the page as a string.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(src, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(Path(src).parent)}}).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    return nb, html


# --------------------------------------------------------------------------- server
class JupyterLab:
    """``with JupyterLab(root) as lab:`` -- a JupyterLab server on 127.0.0.1, killed on exit.

    ``lab.url(path)`` gives an authenticated URL; ``lab.log()`` the server's output so far.
    """

    def __init__(self, root_dir: Path, startup_timeout: float = 90.0, args: list[str] | tuple = ()):
        self.root = Path(root_dir)
        self.args = list(args)  # further command-line arguments, e.g. those of `make lab` (run from root_dir)
        self.port = free_port()
        self.token = uuid.uuid4().hex
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.state = self.root.parent / f".lab-state-{self.port}"

    def url(self, path: str = "") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def log(self) -> str:
        path = self.state / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _write_settings(self) -> dict:
        settings = self.state / "settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        for d in ("workspaces", "config", "runtime"):
            (self.state / d).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(self.state / "workspaces"),
                   JUPYTER_CONFIG_DIR=str(self.state / "config"), JUPYTER_RUNTIME_DIR=str(self.state / "runtime"),
                   MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONUNBUFFERED="1")
        return env

    def __enter__(self) -> "JupyterLab":
        self.root.mkdir(parents=True, exist_ok=True)
        env = self._write_settings()
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False", "--ServerApp.allow_root=True", *self.args]
        self._logfile = open(self.state / "server.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._logfile, stderr=subprocess.STDOUT, env=env,
                                     cwd=self.root, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserTestError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        json.load(r)
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise BrowserTestError(f"jupyter lab did not answer /api/status in {self.startup_timeout} s:\n"
                               f"{self.log()[-3000:]}")

    def kernels(self) -> list[dict]:
        with urllib.request.urlopen(self.url("api/kernels"), timeout=5) as r:
            return json.load(r)

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel (between notebooks, so they don't pile up in memory)."""
        for k in self.kernels():
            req = urllib.request.Request(self.url(f"api/kernels/{k['id']}"), method="DELETE")
            with urllib.request.urlopen(req, timeout=30):
                pass

    def __exit__(self, *exc) -> None:
        """Stop the server and its kernels (the whole process group): SIGTERM, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self.proc is not None:  # kernels left in the group after the server exited
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "_logfile", None):
            self._logfile.close()


# --------------------------------------------------------------------------- browser
def launch_chromium(playwright):
    """Headless system Chromium via Playwright (``executable_path``; never ``playwright install``)."""
    return playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS,
                                      chromium_sandbox=False, timeout=60_000)


_OUTPUT_IMAGES_JS = """
(areas) => areas.map(a => Array.from(a.querySelectorAll('.widget-output img, .widget-output canvas'))
    .map(e => e.tagName === 'IMG' ? e.src : e.toDataURL()).join('|'))
"""


class LabPage:
    """One notebook open in JupyterLab in a Playwright ``page``."""

    def __init__(self, page, lab: JupyterLab, shots: Path | None = None):
        self.page, self.lab, self.shots = page, lab, shots
        self.notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")  # the current one
        self.console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def screenshot(self, name: str, element=None) -> Path | None:
        """Save the page (or one ``element`` locator) as ``<shots>/<name>.png``."""
        if self.shots is None:
            return None
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        (element or self.page).screenshot(path=str(path))
        return path

    def _js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def open(self, name: str, timeout: float = 90.0) -> None:
        """Open ``name`` (relative to the server root) and wait until its kernel is idle."""
        # ?reset: start from an empty workspace (the server remembers tabs opened by earlier pages)
        self.page.goto(self.lab.url(f"lab/tree/{name}?reset"), timeout=timeout * 1000)
        self.notebook.locator(".jp-Cell").first.wait_for(timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)

    def kernel_status(self) -> str:
        return self._js("""() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k ? k.status : 'none';
        }""")

    def wait_kernel_idle(self, timeout: float) -> None:
        self._wait(lambda: self.kernel_status() == "idle", timeout, lambda: f"kernel {self.kernel_status()}")

    def _wait(self, ok, timeout: float, what) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            dialog = self.page.locator(".jp-Dialog")
            if dialog.count():  # e.g. "Select Kernel": nobody will answer it
                self.screenshot("dialog")
                raise BrowserTestError(f"a dialog blocks the page: {dialog.first.inner_text()[:300]!r}")
            self.page.wait_for_timeout(250)
        self.screenshot("timeout")
        raise BrowserTestError(f"timed out after {timeout} s waiting ({what()})")

    def run_all(self, timeout: float = 300.0) -> None:
        """Run > Run All Cells from the menu bar; wait until every code cell has run and the kernel is idle."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        self._wait(self.all_cells_ran, timeout, lambda: f"prompts {self.prompts()}, kernel {self.kernel_status()}")
        self.wait_kernel_idle(timeout)

    def prompts(self) -> list[str]:
        return self.notebook.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()

    def all_cells_ran(self) -> bool:
        p = [t.strip() for t in self.prompts()]
        return bool(p) and all(t.startswith("[") and t.rstrip(":")[1:-1].isdigit() for t in p)  # "[3]:"

    def save(self, timeout: float = 30.0) -> None:
        self._js("() => window.jupyterapp.commands.execute('docmanager:save')")
        self._wait(lambda: not self._js("() => window.jupyterapp.shell.currentWidget.context.model.dirty"),
                   timeout, lambda: "notebook still dirty")

    def wait_widgets_rendered(self, timeout: float = 60.0) -> None:
        """Wait until no widget view still says 'Loading widget...'."""
        self._wait(lambda: "Loading widget" not in self.notebook.inner_text(), timeout,
                   lambda: "'Loading widget...' still shown")

    def problems(self) -> list[str]:
        """What a person would see as broken: widget errors, leftover placeholders, error outputs."""
        text = self.notebook.inner_text()
        found = [s for s in ("Error displaying widget", "Loading widget", "Model not found") if s in text]
        tracebacks = self.notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                       has_text="Traceback").count()
        if tracebacks:
            found.append(f"{tracebacks} error output(s)")
        return found

    def widget_areas(self):
        """Output areas that hold a widget view with an ``Output`` (the explorers)."""
        return self.notebook.locator(".jp-OutputArea-output:has(.jupyter-widgets .widget-output)")

    def output_images(self) -> list[str]:
        """For each widget area: the src/pixels of the images inside its Output widgets."""
        return self.widget_areas().evaluate_all(_OUTPUT_IMAGES_JS)

    @staticmethod
    def controls(area) -> list[str]:
        """The kinds of control ``area`` has that :meth:`interaction_changes_output` can move."""
        kinds = {"dropdown": ".widget-dropdown select", "slider": ".widget-slider .noUi-handle"}
        return [k for k, css in kinds.items() if area.locator(css).count()]

    def _move(self, area, kind: str) -> str:
        """Pick the next dropdown option, or step a slider right (left at its right end)."""
        if kind == "dropdown":
            sel = area.locator(".widget-dropdown select").first
            options = sel.locator("option").all_inner_texts()
            if len(options) < 2:
                raise BrowserTestError(f"dropdown has {len(options)} option(s): nothing to pick")
            new = (sel.evaluate("s => s.selectedIndex") + 1) % len(options)
            sel.select_option(index=new)
            return f"dropdown -> {options[new]!r}"
        if kind == "slider":
            handle = area.locator(".widget-slider .noUi-handle").first
            at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            handle.focus()
            handle.press("ArrowLeft" if at_end else "ArrowRight")
            return f"slider {'left' if at_end else 'right'} -> {handle.get_attribute('aria-valuenow')}"
        raise ValueError(f"kind: expected 'dropdown' or 'slider', got {kind!r}")

    def output_images_of(self, area) -> str:
        return area.evaluate(f"a => ({_OUTPUT_IMAGES_JS})([a])[0]")

    def interaction_changes_output(self, index: int, kind: str, timeout: float = 60.0) -> str:
        """Move the first ``kind`` control ('dropdown' | 'slider') of widget area ``index``; wait until
        its Output shows a different image. Returns what was done."""
        area = self.widget_areas().nth(index)
        area.scroll_into_view_if_needed()
        before = self.output_images_of(area)
        if not before:
            raise BrowserTestError(f"widget area {index} shows no image in its Output")
        self.screenshot(f"area{index}-{kind}-before", area)
        done = self._move(area, kind)
        self._wait(lambda: (a := self.output_images_of(area)) and a != before, timeout,
                   lambda: f"output image of area {index} unchanged after {done}")
        self.wait_kernel_idle(timeout)
        self.screenshot(f"area{index}-{kind}-after", area)
        return done
