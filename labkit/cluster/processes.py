"""Child processes that never outlive their owner."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """``preexec_fn`` for a child that must die (SIGKILL) when the thread that started it ends.

    Linux delivers the signal when the parent *thread* exits, so start such children from a
    thread that lives as long as they should (the main thread of a supervisor, say).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
