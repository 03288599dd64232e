"""Notebook-friendly runs: bounded run(), a background runner, and clean stops on interrupts.

A stop - by bound, by stop(), by Ctrl-C in a script, by interrupting a Jupyter cell - commits
what was processed and leaves the consumer group at once, so nothing is processed twice and no
member lingers until a session timeout.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from labkit.streams import RecordProcessingError, StreamsError
from labkit.streams.examples.customer_totals import RateLimit


def counting_app(app, source, rate=None):
    orders = app.stream(source)
    if rate:
        orders = orders.peek(RateLimit(rate))
    orders.group_by(lambda k, o: o["customerId"]).count(store="n")
    return app


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(0.1)


def members(lab, group: str) -> int:
    return len(lab.groups.describe(group).members) if group in lab.groups.list() else 0


def committed(lab, group: str, topic: str) -> int:
    frame = lab.groups.offsets(group)
    return int(frame.loc[frame["topic"] == topic, "committed"].sum())


def test_max_records_stops_after_that_many_inputs_and_what_they_caused(lab, orders_topic, make_app):
    source, orders = orders_topic(1_000)
    app = counting_app(make_app(guarantee="exactly_once"), source)
    result = app.run(max_records=100, timeout=60)
    assert result.stopped_by == "max_records"
    assert result.input_records == 100
    assert sum(app.store("n").to_dict().values()) == 100  # the aggregation caught up too
    rest = app.run(until_idle=1.0, timeout=60)
    assert rest.input_records == 900  # resumed exactly where max_records stopped
    assert app.store("n").to_dict() == dict(Counter(o["customerId"] for o in orders))


def test_timeout_returns_and_a_later_run_finishes_exactly(lab, orders_topic, make_app):
    source, orders = orders_topic(1_000)
    app = counting_app(make_app(guarantee="exactly_once"), source, rate=300)
    started = time.monotonic()
    result = app.run(timeout=1.5)
    assert result.stopped_by == "timeout" and time.monotonic() - started < 10
    assert 0 < result.input_records < 1_000
    assert members(lab, app.app_id) == 0  # run() left the group on its way out
    app.run(until_idle=1.0, timeout=60)
    assert app.store("n").to_dict() == dict(Counter(o["customerId"] for o in orders))


def test_a_background_run_answers_queries_and_stops_cleanly(lab, orders_topic, make_app):
    source, orders = orders_topic(2_000)
    app = counting_app(make_app(guarantee="exactly_once"), source)
    app.start()
    try:
        assert app.state == "RUNNING"
        with pytest.raises(StreamsError, match="already running"):
            app.run()
        expected = dict(Counter(o["customerId"] for o in orders))
        assert app.wait_until(lambda: app.store("n").to_dict() == expected, timeout=60)
        assert app.store("n").get(orders[0]["customerId"]) == expected[orders[0]["customerId"]]
        assert members(lab, app.app_id) == 1
        assert app.tasks == ["0_0", "0_1", "0_2", "1_0", "1_1", "1_2"]  # the only instance
        assert not app.wait_until(lambda: False, timeout=0.3)  # bounded
    finally:
        result = app.stop()
    assert result.stopped_by == "stop" and result.input_records == 2_000
    assert app.state == "STOPPED" and app.tasks == []
    assert members(lab, app.app_id) == 0
    assert not app.wait_until(lambda: False, timeout=30)  # not running: no waiting


def test_waiting_on_a_background_run_raises_what_stopped_it(lab, orders_topic, make_app):
    source, _ = orders_topic(10)
    app = make_app(guarantee="exactly_once")
    app.stream(source).peek(lambda key, order: order["no such field"])
    app.start()
    started = time.monotonic()
    with pytest.raises(RecordProcessingError, match="KeyError"):
        app.wait_until(lambda: False, timeout=60)
    assert time.monotonic() - started < 30 and app.state == "ERROR"


SCRIPT = """
import sys, time
import labkit
from labkit.streams import StreamApp
from labkit.streams.examples.customer_totals import RateLimit
lab = labkit.lab(start=False)
app = StreamApp({app_id!r}, lab, guarantee="exactly_once", state_dir={state!r})
app.stream({source!r}).peek(RateLimit(400)).group_by(lambda k, o: o["customerId"]).count(store="n")
print("ready", flush=True)
{body}
"""


@pytest.mark.parametrize(
    "body",
    [
        "app.run(until_idle=None)",  # foreground: the first Ctrl-C stops at a record boundary
        "app.start()\nwhile True:\n    time.sleep(0.2)",  # background: the runner thread stops
    ],
    ids=["foreground", "background"],
)
def test_ctrl_c_stops_the_app_cleanly_leaving_no_member(
    lab, orders_topic, make_app, unique, tmp_path, body
):
    source, orders = orders_topic(2_000)
    app_id = unique("sigint")
    code = SCRIPT.format(app_id=app_id, state=str(tmp_path / "s"), source=source, body=body)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_for(lambda: members(lab, app_id) == 1, what="the app joining its group")
        wait_for(lambda: committed(lab, app_id, source) > 0, what="a first commit")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "KeyboardInterrupt" in stderr
    assert members(lab, app_id) == 0  # immediately: it left, no session timeout needed
    done = committed(lab, app_id, source)
    assert 0 < done < len(orders)
    # what it processed was committed once: a new run finishes with exact counts
    app = counting_app(make_app(app_id, guarantee="exactly_once", state_dir=tmp_path / "s"), source)
    app.run(until_idle=1.0, timeout=60)
    assert app.store("n").to_dict() == dict(Counter(o["customerId"] for o in orders))


@pytest.mark.timeout(120)
def test_interrupting_a_jupyter_cell_stops_the_background_runner(
    lab, orders_topic, make_app, unique, tmp_path
):
    from jupyter_client.manager import start_new_kernel

    source, orders = orders_topic(3_000)
    app_id = unique("kernel")
    setup = SCRIPT.format(
        app_id=app_id, state=str(tmp_path / "s"), source=source, body="app.start()"
    )
    km, kc = start_new_kernel(kernel_name="python3")
    outputs: list[str] = []

    def run_cell(code: str, timeout: float = 60) -> dict:
        def keep(msg):
            if msg["msg_type"] == "stream":
                outputs.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                outputs.append(msg["content"]["ename"])

        return kc.execute_interactive(code, timeout=timeout, output_hook=keep)["content"]

    try:
        assert run_cell(setup)["status"] == "ok"
        wait_for(lambda: members(lab, app_id) == 1, what="the runner joining its group")
        wait_for(lambda: committed(lab, app_id, source) > 0, what="a first commit")
        msg_id = kc.execute("import time; time.sleep(60)")  # some other long cell...
        time.sleep(1.0)
        km.interrupt_kernel()  # ...that the learner interrupts
        reply = kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = kc.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        # the runner stopped with the cell: committed, left the group, no session timeout
        wait_for(lambda: members(lab, app_id) == 0, timeout=10, what="the runner leaving")
        reply = run_cell("print(app.state, app.last_result.stopped_by)")
        assert reply["status"] == "ok"
        assert outputs[-1].strip() == "STOPPED interrupt"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    app = counting_app(make_app(app_id, guarantee="exactly_once", state_dir=tmp_path / "s"), source)
    app.run(until_idle=1.0, timeout=60)
    assert app.store("n").to_dict() == dict(Counter(o["customerId"] for o in orders))
