"""Headless Chromium for the dashboard tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download cannot work offline, so the tests drive the system Chromium. When it is
missing, :func:`chromium_executable` installs Debian's package (``apt-get install chromium``) if it can (root
with apt), else the caller skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

_LOCK = threading.Lock()
#: Flags for a sandboxed CI machine with no network beyond package registries (each avoids a failure seen there).
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # otherwise connections to Google's hosts are attempted and refused
    "--disable-component-update",
    "--disable-sync",
]


def _find() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_executable() -> tuple[str | None, str]:
    """The browser's path, installing Debian's chromium when possible; else (None, why not)."""
    with _LOCK:
        path = _find()
        if path:
            return path, ""
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            return None, "no chromium on PATH and cannot install it (needs root and apt-get)"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:  # stale package lists on a fresh machine
            subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        path = _find()
        if path:
            return path, ""
        return None, f"apt-get install chromium failed: {done.stderr.strip()[-500:]}"
