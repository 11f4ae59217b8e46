"""Shared fixtures. ``shared_data`` is ../shared/data beside the checkout (CI has it); tests
that need it skip with the reason when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from paths import ROOT, SHARED

# CI (CI=true) draws the same hypothesis examples on every run of a commit, so a green check of a commit
# predicts its CI; local runs keep drawing new examples (and replaying saved failures) to find new bugs.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"real data samples not found at {path} (set POSECOURSE_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.skip(f"reference figures not found at {path} (set POSECOURSE_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Playwright) for a test module; skips with the reason where it cannot start."""
    from browser_support import browser_unavailable, launch_chromium

    reason = browser_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()
