"""What the browser tests share: an example app served on a free port, and a headless Chromium
page on it (the system's Chromium, driven by Playwright).

Outside CI a Chromium that cannot launch skips the test (a developer machine may have none); in
CI, which installs it (``scripts/install-browser.sh``), that is a failure.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Single-threaded: next to another pytest worker on two cores, parallel kernels crawl.
ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def serve(module, *args):
    """Run ``python -m module --port 0 *args`` from the repository; yields (process, url) and
    stops it afterwards. The app prints its URL on its first line."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=REPO,
        env={**os.environ, **ONE_THREAD},
        stdout=subprocess.PIPE,
        text=True,
    )
    url = re.search(r"http://\S+/", process.stdout.readline()).group(0)
    yield process, url
    if process.poll() is None:
        process.terminate()
    process.wait(timeout=10)


def open_page(url, profile_dir, default_timeout=None):
    """Yields a fresh headless Chromium page showing ``url`` (timeouts in ms, if given)."""
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                str(profile_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Error as error:
            if os.environ.get("CI"):  # CI installs Chromium: not launching is a failure there
                raise
            pytest.skip(f"Chromium ({CHROMIUM}) cannot launch: {error.message.splitlines()[0]}")
        page = context.new_page()
        if default_timeout is not None:
            page.set_default_timeout(default_timeout)
        page.goto(url)
        yield page
        context.close()
