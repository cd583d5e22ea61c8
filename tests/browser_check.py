"""Drive headless Chromium from the tests with nothing but subprocess: dump a page's DOM, run a script
against a page, take a screenshot.

The gallery page, opened with ``?check``, writes a JSON report of which audio and image elements loaded
into ``<pre id="media-check" data-state="done">``; :func:`media_check` reads it back from the dumped DOM.
:func:`drive` opens a page in an iframe of a throwaway harness page and runs a script against it (clicks,
typing), the way a user would, and reads back what the script returns.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path

#: The browser: Debian's chromium unless $CHROMIUM names another (tests/setup_browser.sh reads it too).
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))

#: Flags for a quiet, offline, throwaway browser (root in a container needs --no-sandbox).
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--hide-scrollbars", "--mute-audio",
]

#: Lets a page wait for media and timers without real waiting; it also makes the page's clock virtual, so
#: a run that measures time must go without it.
_VIRTUAL_TIME = "--virtual-time-budget=10000"


def require_chromium() -> None:
    """Skip the calling test without :data:`CHROMIUM`, except under CI=true, where a missing browser fails it."""
    import pytest

    if CHROMIUM.exists():
        return
    message = (f"{CHROMIUM} not found: install the Debian package 'chromium' "
               "(apt-get install -y --no-install-recommends chromium) to run the browser tests")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _run(args: list[str], profile: Path, timeout: float, virtual_time: bool = True) -> str:
    flags = [*_FLAGS, _VIRTUAL_TIME] if virtual_time else _FLAGS
    proc = subprocess.run([str(CHROMIUM), *flags, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def dump_dom(url: str, profile: Path, timeout: float = 120, virtual_time: bool = True) -> str:
    """The DOM of ``url`` after its scripts ran, as HTML text.

    With ``virtual_time=False`` the DOM is dumped right after the load event and the page's clock is real.
    """
    return _run(["--dump-dom", url], profile, timeout, virtual_time)


def _report(dom: str, element_id: str) -> dict:
    found = re.search(rf'<pre id="{element_id}" data-state="(\w+)">(.*?)</pre>', dom, re.S)
    if found is None or found.group(1) != "done":
        detail = html.unescape(found.group(2))[:2000] if found else ""
        raise AssertionError(f"the page did not finish (#{element_id} state: {found and found.group(1)}) {detail}")
    return json.loads(html.unescape(found.group(2)))


def media_check(page: Path, profile: Path, timeout: float = 120) -> dict:
    """Open ``page`` with ``?check`` and return its media report: ``{"audio": [...], "images": [...]}``."""
    return _report(dump_dom(page.resolve().as_uri() + "?check", profile, timeout), "media-check")


_HARNESS = """<!DOCTYPE html>
<html><body>
<pre id="result" data-state="pending"></pre>
<iframe id="frame" src="{url}" style="width: 1280px; height: 900px"></iframe>
<script>
function drive(frame) {{
{script}
}}
var frame = document.getElementById('frame');
frame.addEventListener('load', function () {{
  var out = document.getElementById('result');
  Promise.resolve().then(function () {{ return drive(frame); }}).then(function (value) {{
    out.textContent = JSON.stringify(value); out.dataset.state = 'done';
  }}, function (err) {{
    out.textContent = String(err && err.stack || err); out.dataset.state = 'failed';
  }});
}});
</script>
</body></html>
"""


def drive(page: Path, script: str, profile: Path, timeout: float = 180, attempts: int = 3) -> dict:
    """Load ``page`` in an iframe and run ``script`` (a function body; ``frame`` is the iframe) once it has
    loaded; return the JSON of what the script returns (or resolves to).

    The harness page is written next to ``profile``; ``--allow-file-access-from-files`` lets it reach into
    the page's document (both are file:// URLs). Chromium dumps the DOM when its virtual time budget is
    spent, and media that a script waits for load in real time: on a loaded machine a script can still be
    waiting then (seen once in CI: the 10,000-row page, its result still pending). Such a run is tried
    again, up to ``attempts`` runs in all; a script that fails, or is still pending every time, fails.
    """
    harness = profile.parent / "harness.html"
    harness.write_text(_HARNESS.format(url=html.escape(page.resolve().as_uri()), script=script))
    args = ["--allow-file-access-from-files", "--dump-dom", harness.as_uri()]
    dom = _run(args, profile, timeout)
    for _ in range(attempts - 1):
        if 'id="result" data-state="pending"' not in dom:
            break
        dom = _run(args, profile, timeout)
    return _report(dom, "result")


def screenshot(url: str, png: Path, profile: Path, width: int = 1280, height: int = 2000,
               timeout: float = 120) -> Path:
    """Save a ``width`` x ``height`` screenshot of ``url`` to ``png``."""
    _run([f"--screenshot={png}", f"--window-size={width},{height}", url], profile, timeout)
    return png
