"""Stopping cleanly on an interrupt, in the foreground and in the background.

* ``app.run()`` in the main thread: the first Ctrl-C (a kernel interrupt) asks the loop to stop at
  the next record boundary; it commits, leaves the group, then raises ``KeyboardInterrupt``. A
  second Ctrl-C interrupts at once (uncommitted work is then aborted or replayed, never half-kept).
* ``app.start()``: the runner thread stops, commits and leaves the group when the process gets
  SIGINT (a script's Ctrl-C), when a Jupyter cell is interrupted (IPython's ``post_run_cell``
  event; Jupyter itself ignores an interrupt while no cell runs), and when the interpreter exits
  (``atexit``: a kernel restart or shutdown).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labkit.streams.app import StreamApp

log = logging.getLogger("labkit.streams")


class StopSignal(threading.Event):
    """Set to stop a run; ``interrupted`` says it came from Ctrl-C."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def interrupt(self) -> None:
        self.interrupted = True
        self.set()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def deferred_interrupt(stop: StopSignal) -> Iterator[None]:
    """While in the block, the first SIGINT sets ``stop`` instead of raising."""
    if not _in_main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        stop.interrupt()
        # a second Ctrl-C should act at once
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not allowed here (an embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, previous)


class _Background:
    """The apps running in background threads of this process, and the hooks that stop them."""

    def __init__(self) -> None:
        self.apps: list[StreamApp] = []
        self.lock = threading.Lock()
        self.previous_sigint: Any = None
        self.hooks_installed = False

    def register(self, app: StreamApp) -> None:
        with self.lock:
            self.apps.append(app)
        if not self.hooks_installed:
            self.hooks_installed = True
            atexit.register(self.stop_all)
            self._hook_ipython()
        self._hook_sigint()

    def unregister(self, app: StreamApp) -> None:
        with self.lock:
            if app in self.apps:
                self.apps.remove(app)
            empty = not self.apps
        if empty and _in_main_thread() and signal.getsignal(signal.SIGINT) == self._on_sigint:
            signal.signal(signal.SIGINT, self.previous_sigint or signal.default_int_handler)

    def _hook_sigint(self) -> None:
        if not _in_main_thread():
            return
        current = signal.getsignal(signal.SIGINT)
        if current == self._on_sigint:
            return
        try:
            signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:
            return
        self.previous_sigint = current

    def _on_sigint(self, signum: int, frame: Any) -> None:
        for app in list(self.apps):
            app._interrupt()
        previous = self.previous_sigint
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt

    def _hook_ipython(self) -> None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        if shell is None:
            return
        shell.events.register("post_run_cell", self._after_cell)

    def _after_cell(self, result: Any) -> None:
        if isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
            for app in list(self.apps):
                log.warning("%s: cell interrupted; stopping the app", app.config.app_id)
                app._interrupt()
            self.stop_all()

    def stop_all(self) -> None:
        for app in list(self.apps):
            try:
                app.stop(raise_error=False)
            except Exception as exc:
                log.warning("stopping %s: %s", app.config.app_id, exc)


background = _Background()
