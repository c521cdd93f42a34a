"""Headless Chromium for the HTML reports' browser tests (the sweep report, the generator's QC report).

Drives Debian's Chromium (`/usr/bin/chromium`, installed by .ci/run) through Playwright; never a
browser downloaded by a test tool. Without a browser or Playwright a test skips with the reason,
unless IMPRESS_REQUIRE_BROWSER=1 (set by .ci/run), where that is a failure. The `chromium` fixture
(tests/conftest.py) makes that check; `launched` starts the browser.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("IMPRESS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (IMPRESS_REQUIRE_BROWSER=1: the browser tests must run here)")
    pytest.skip(reason)


def require_chromium() -> str:
    """Chromium's path, once Playwright is known to import (else skip, or fail under .ci/run)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        unavailable("no Chromium found at /usr/bin/chromium or on PATH (Debian: apt-get install chromium)")
    return executable


@contextmanager
def launched(executable: str) -> Iterator[Any]:
    """Headless Chromium at `executable` (from the `chromium` fixture), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def watched_page(browser: Any, width: int = 1280, height: int = 900) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in its own context, and every console error and uncaught page error it sees (a
    test asserts the list is empty at the end); the context is closed on exit."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        yield page, errors
    finally:
        context.close()
