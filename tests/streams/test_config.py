"""Where an app keeps its local state by default (no broker needed)."""

from __future__ import annotations

from pathlib import Path

from labkit.streams.config import StreamConfig, default_state_dir


def test_state_dir_follows_the_lab_home_so_two_labs_never_share_it(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_STREAMS_STATE_DIR", raising=False)
    monkeypatch.delenv("LABKIT_HOME", raising=False)
    assert default_state_dir() == Path.home() / ".cache" / "labkit" / "streams"
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "lab-b"))
    assert default_state_dir() == tmp_path / "lab-b" / "streams"
    assert StreamConfig("totals").app_state_dir() == tmp_path / "lab-b" / "streams" / "totals"
    monkeypatch.setenv("LABKIT_STREAMS_STATE_DIR", str(tmp_path / "mine"))
    assert default_state_dir() == tmp_path / "mine"
