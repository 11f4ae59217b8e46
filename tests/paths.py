"""Where things are, for every test module (one place): the checkout's root, the tests folder and
``../shared`` (``POSECOURSE_SHARED`` overrides it). Fixtures (``repo_root``, ``shared_data``, ...) in
``conftest.py`` hand these to tests; module-level lists that parametrize tests read them here."""
from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHARED = Path(os.environ.get("POSECOURSE_SHARED", ROOT.parent / "shared"))
