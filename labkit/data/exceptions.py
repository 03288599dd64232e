"""Errors raised by :mod:`labkit.data`."""

from __future__ import annotations

from labkit.exceptions import LabkitError


class DataGenError(LabkitError, ValueError):
    """A sample-data generator was called with an argument it cannot use."""
