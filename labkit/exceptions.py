"""The root of every error labkit raises.

Each package keeps its own ``exceptions.py`` whose classes derive from :class:`LabkitError`,
so ``except labkit.LabkitError`` catches anything labkit says went wrong. Every message names
the problem and, where there is one, the fix.
"""

from __future__ import annotations


class LabkitError(Exception):
    """Base class of all labkit errors."""
