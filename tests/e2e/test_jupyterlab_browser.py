"""What `make lab` promises, in a real browser: JupyterLab opens the notebooks and they run on real Kafka.

A JupyterLab server is started the way `make lab` starts it (``jupyter lab`` on the notebooks, in the
current environment) while the session's lab runs, on a copy of ``notebooks/`` so the committed files
are never touched. Debian's Chromium, driven headless by Playwright, opens ``00_lab_setup.ipynb``,
clears its committed outputs, runs all cells from the Run menu, waits until the kernel is idle, and
reads what the browser rendered: the health check's round trip through the broker, the same event
read back by the ``labkit`` CLI, and no traceback or stderr output in any cell.

Needs ``apt-get install chromium`` (``/usr/bin/chromium``) and ``pip install playwright``; the test
fails, never skips, when either is missing. ``playwright install`` is not needed (nor possible here).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_lab_setup.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which a closed
# network refuses; a fresh profile directory per run comes from launch_persistent_context.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# the status bar's kernel item once a kernel runs and waits: "Python 3 (ipykernel) | Idle"
KERNEL_IDLE = re.compile(r"^(?!No Kernel).+ \| Idle$")
SERVER_START_TIMEOUT_S = 60
PAGE_TIMEOUT_MS = 60_000
RUN_ALL_TIMEOUT_MS = 120_000
# User settings for the test's JupyterLab: no news/update pop-up over the notebook (the machine
# may have no internet; the pop-up would cover the screenshot). Everything else is the default.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

STDOUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]'
# tracebacks and anything written to stderr (a notebook's committed outputs have neither)
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class JupyterServer:
    url: str
    token: str
    root_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(server_url: str, token: str, path: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(
        f"{server_url}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, server_url: str, token: str) -> None:
    """Shut the server down with its kernels: the REST shutdown, then SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            _api(server_url, token, "/api/shutdown", method="POST")
        except (OSError, urllib.error.URLError):
            pass
    for sig, wait_s in ((None, 15), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if sig is not None and proc.poll() is None:
            os.killpg(proc.pid, sig)  # the server's own process group, started below
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def chromium() -> Path:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: this test drives Debian's Chromium; "
            "install it with `apt-get install chromium` (.ci/run does that in CI)"
        )
    return CHROMIUM


@pytest.fixture
def jupyter_server(lab, tmp_path: Path) -> Iterator[JupyterServer]:
    """`jupyter lab` as `make lab` runs it, on a copy of notebooks/, while the session lab runs."""
    root_dir = tmp_path / "notebooks"
    shutil.copytree(
        ROOT / "notebooks", root_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    settings_dir = tmp_path / "jupyterlab-settings"
    for name, settings in USER_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    port, token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail on a taken port rather than move to another
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={tmp_path / 'jupyterlab-workspaces'}",
    ]
    if os.geteuid() == 0:  # containers and CI machines often run as root
        command.append("--allow-root")
    # kernel connection files and the cookie secret stay in the test's own directory
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
    with log.open("wb") as log_file:
        # cwd is the copy, not the repository: the kernel must find labkit as installed
        proc = subprocess.Popen(
            command,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_tail(log)}")
            try:
                _api(url, token, "/api/status")
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not answer at {url} within "
                        f"{SERVER_START_TIMEOUT_S} s:\n{_tail(log)}"
                    )
                time.sleep(0.2)
        yield JupyterServer(url=url, token=token, root_dir=root_dir, log=log)
    finally:
        _stop(proc, url, token)


def _code_cell_count(path: Path) -> int:
    return sum(c["cell_type"] == "code" for c in json.loads(path.read_text())["cells"])


# True once the notebook's run is over: kernel idle, nothing queued ([*]), and either every code
# cell has an execution count or a cell failed (Run All stops there, leaving the rest blank).
_RUN_FINISHED = r"""
({cells, stderr}) => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return false;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  if (!indicator || indicator.dataset.status !== 'idle') return false;
  const kernel = [...document.querySelectorAll('.jp-StatusBar-TextItem')]
    .map((e) => e.textContent.trim());
  if (!kernel.some((t) => / \| Idle$/.test(t) && !t.startsWith('No Kernel'))) return false;
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map((p) => p.textContent.trim());
  if (prompts.length !== cells || prompts.some((p) => p.includes('*'))) return false;
  return panel.querySelector(stderr) !== null || prompts.every((p) => /^\[\d+\]:$/.test(p));
}
"""

# Called on every animation frame: scroll the element into view until it has stayed there for 15
# frames. Off-screen cells are laid out with estimated heights (content-visibility) and grow a few
# frames after they come into view, which pushes a just-scrolled-to element out of view again.
_SCROLLED_INTO_VIEW = """
(el) => {
  const r = el.getBoundingClientRect();
  const shown = r.height > 0 && r.top >= 0 && r.top < window.innerHeight * 0.75;
  const where = `${Math.round(r.top)}:${Math.round(r.height)}`;
  const frames = shown && el.dataset.e2eWhere === where ? Number(el.dataset.e2eFrames) + 1 : 0;
  el.dataset.e2eWhere = where;
  el.dataset.e2eFrames = String(frames);
  if (!shown) el.scrollIntoView({block: r.height < window.innerHeight / 2 ? 'center' : 'start'});
  return frames >= 15;
}
"""


def _scroll_to(page, locator) -> None:
    """Best effort, for the screenshot only: what the test asserts does not depend on it."""
    if locator.count() == 0:
        return
    try:
        page.wait_for_function(
            _SCROLLED_INTO_VIEW, arg=locator.first.element_handle(), timeout=10_000
        )
    except Exception as exc:  # a screenshot scrolled slightly wrong is still useful
        print(f"screenshot: could not scroll to {locator}: {exc}")


def _menu(page, menu: str, item: str) -> None:
    """Click ``menu`` in the menu bar, then its entry ``item`` (exact labels)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=_exactly(menu)).click()
    page.locator(".lm-Menu-content .lm-Menu-item").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=_exactly(item))
    ).click()


def _exactly(text: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(text)}$")


def test_make_lab_notebook_runs_in_a_real_browser_on_real_kafka(
    lab, chromium: Path, jupyter_server: JupyterServer, tmp_path: Path
):
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail(
            "playwright is not installed: `pip install playwright` (it is in the dev extra)"
        )

    committed = ROOT / "notebooks" / NOTEBOOK
    committed_digest = hashlib.sha256(committed.read_bytes()).hexdigest()
    cells = _code_cell_count(jupyter_server.root_dir / NOTEBOOK)
    screenshot = tmp_path / "jupyterlab-00_lab_setup.png"

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            page.goto(
                f"{jupyter_server.url}/lab/tree/{NOTEBOOK}?token={jupyter_server.token}",
                wait_until="domcontentloaded",
            )
            panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text=NOTEBOOK)
            expect(tab).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
            expect(panel.locator(".jp-CodeCell")).to_have_count(cells, timeout=PAGE_TIMEOUT_MS)
            # The kernel has started and is ready. (The toolbar's execution indicator already says
            # "idle" while the status bar still says "No Kernel | Initializing".)
            kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE)
            expect(kernel_idle).to_have_count(1, timeout=PAGE_TIMEOUT_MS)

            # Clear the committed outputs first, so everything asserted below was rendered by this run.
            _menu(page, "Edit", "Clear Outputs of All Cells")
            expect(panel.locator(".jp-OutputArea-output")).to_have_count(0)

            _menu(page, "Run", "Run All Cells")
            page.wait_for_function(
                _RUN_FINISHED, arg={"cells": cells, "stderr": STDERR}, timeout=RUN_ALL_TIMEOUT_MS
            )

            everything = "\n".join(panel.locator(".jp-OutputArea-output").all_text_contents())
            stderr = panel.locator(STDERR).all_text_contents()
            tables = panel.locator(".jp-OutputArea-output table").all_text_contents()
            prompts = [
                p.strip() for p in panel.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
            ]

            # The screenshot shows the first error if there is one, else the health check.
            _scroll_to(page, panel.locator(f"{STDERR}, {STDOUT}:has-text('health check passed')"))
            page.screenshot(path=str(screenshot))
        except Exception:
            print(f"jupyter lab log:\n{_tail(jupyter_server.log)}")
            try:
                page.screenshot(path=str(tmp_path / "failure.png"))
                print(f"screenshot: {tmp_path / 'failure.png'}")
            except Exception as exc:  # keep the original failure
                print(f"no failure screenshot: {exc}")
            raise
        finally:
            context.close()

    assert not stderr, "a cell shows an error or stderr output:\n" + "\n---\n".join(stderr)
    assert "Traceback" not in everything, everything
    # every code cell ran once, in order, in a fresh kernel
    assert prompts == [f"[{n}]:" for n in range(1, cells + 1)], prompts
    # A real broker answered: the kernel attached to the session's lab, produced, and read back.
    expected = [
        "attached; topic nb00-health is fresh",
        "all running:     True",
        f"at {lab.bootstrap_servers}",
        "ProduceResult(topic='nb00-health', count=1, partitions={p0: 1})",
        "✅ health check passed: one event produced, acknowledged, and read back unchanged",
        "nb00-health: 1 partition(s), replication factor 1",
        # the same event, read back by the labkit CLI from a `!` line
        '0:0\thealth-check\t{"check": "hello, kafka", "createdAt": 1767225600000}',
        "✅ Exercise 1 passed",
        "✅ Exercise 2 passed",
        "deleted: nb00-health nb00-exercise",
    ]
    missing = [text for text in expected if text not in everything]
    assert not missing, f"not in the rendered outputs: {missing}\n---\n{everything}"
    # the DataFrame from lab.read, rendered as an HTML table by the browser
    assert any(
        "nb00-health" in t and "health-check" in t and "'hello, kafka'" in t for t in tables
    ), tables
    assert screenshot.stat().st_size > 10_000
    # the browser ran the copy; the committed notebook is untouched
    assert hashlib.sha256(committed.read_bytes()).hexdigest() == committed_digest
    print(f"screenshot: {screenshot}")
