"""A read interrupted mid-way (Ctrl-C, a kernel interrupt) leaves no member in its group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_interrupted_group_read_leaves_no_member_behind(lab, topic_factory, unique):
    topic = topic_factory("interrupt", partitions=2)
    group = unique("g")
    lab.produce(topic, [{"i": i} for i in range(5)])
    code = (
        "import labkit, sys\n"
        "lab = labkit.lab(start=False)\n"
        "print('reading', flush=True)\n"
        f"lab.read({topic!r}, group_id={group!r}, until_end=False, timeout=120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert proc.stdout.readline().strip() == "reading"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the reader is a member of the group
            if group in lab.groups.list() and len(lab.groups.describe(group).members) == 1:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the reader never joined its group")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in proc.stderr.read()
    # immediately, not after a session timeout: close() sent LeaveGroup
    desc = lab.groups.describe(group)
    assert len(desc.members) == 0, desc
    assert desc.state == "empty"
