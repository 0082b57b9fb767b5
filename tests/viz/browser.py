"""A headless Chromium driven over the DevTools protocol: load a page, run JavaScript, screenshot.

Only the distribution's ``chromium`` package and the ``websockets`` client (installed with Solara)
are needed — no driver program, no browser download.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium (or Chrome) program on PATH, if any."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless browser showing ``url`` in a ``width × height`` window."""

    def __init__(self, program: str, url: str, width: int = 1400, height: int = 900) -> None:
        from websockets.sync.client import connect

        self._profile = tempfile.mkdtemp(prefix="dmarl-chromium-")
        self._process = subprocess.Popen(
            [
                program,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        port = self._debugging_port(deadline=time.monotonic() + 60)
        pages = []
        for _ in range(100):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        self._stack = contextlib.ExitStack()
        self._socket = self._stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        )
        self._ids = itertools.count(1)

    def _debugging_port(self, deadline: float) -> int:
        assert self._process.stderr is not None
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if not line:
                if self._process.poll() is not None:
                    raise RuntimeError(f"chromium exited with {self._process.returncode}")
                continue
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if found:
                return int(found.group(1))
        raise TimeoutError("chromium did not open its debugging port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 90.0) -> Any:
        """Poll ``expression`` until it is truthy; its value (TimeoutError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"still false after {timeout} s: {expression}")

    def screenshot(self) -> bytes:
        """The page as PNG bytes."""
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            shutil.rmtree(self._profile, ignore_errors=True)


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``url`` answers (the server process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def assets_missing(url: str) -> str | None:
    """Why the page at ``url`` cannot load its scripts and styles, or None when it can: Solara
    serves them from its ``solara-assets`` package, or fetches them from a CDN (online only)."""
    with urllib.request.urlopen(url, timeout=30) as answer:
        page = answer.read().decode(errors="replace")
    first = re.search(r'(/_solara/cdn/[^"\']+)', page)
    if first is None:
        return None
    try:
        with urllib.request.urlopen(url.rstrip("/") + first.group(1), timeout=60) as answer:
            return None if answer.status == 200 else f"HTTP {answer.status}"
    except OSError as exc:
        return f"{first.group(1)}: {exc}"


def save(png: bytes, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out
