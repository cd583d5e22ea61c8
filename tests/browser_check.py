"""Drive headless Chromium from the tests with nothing but subprocess: dump a page's DOM, take a screenshot.

The gallery page, opened with ``?check``, writes a JSON report of which audio and image elements loaded
into ``<pre id="media-check" data-state="done">``; :func:`media_check` reads it back from the dumped DOM.
"""
from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")

#: Flags for a quiet, offline, throwaway browser (root in a container needs --no-sandbox).
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--hide-scrollbars", "--mute-audio", "--virtual-time-budget=10000",
]


def _run(args: list[str], profile: Path, timeout: float) -> str:
    proc = subprocess.run([str(CHROMIUM), *_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def dump_dom(url: str, profile: Path, timeout: float = 120) -> str:
    """The DOM of ``url`` after its scripts ran, as HTML text."""
    return _run(["--dump-dom", url], profile, timeout)


def media_check(page: Path, profile: Path, timeout: float = 120) -> dict:
    """Open ``page`` with ``?check`` and return its media report: ``{"audio": [...], "images": [...]}``."""
    dom = dump_dom(page.resolve().as_uri() + "?check", profile, timeout)
    found = re.search(r'<pre id="media-check" data-state="(\w+)">(.*?)</pre>', dom, re.S)
    if found is None or found.group(1) != "done":
        raise AssertionError(f"the page did not finish its media check (state: {found and found.group(1)})")
    return json.loads(html.unescape(found.group(2)))


def screenshot(url: str, png: Path, profile: Path, width: int = 1280, height: int = 2000,
               timeout: float = 120) -> Path:
    """Save a ``width`` x ``height`` screenshot of ``url`` to ``png``."""
    _run([f"--screenshot={png}", f"--window-size={width},{height}", url], profile, timeout)
    return png
