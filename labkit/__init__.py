"""labkit: the helpers of the Event-Driven Microservices Lab.

>>> import labkit
>>> lab = labkit.lab()                      # doctest: +SKIP
>>> lab.topics.fresh("orders", partitions=3)  # doctest: +SKIP

Sub-packages are imported on first use so that ``labkit`` and its CLI start quickly.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from labkit.exceptions import LabkitError

if TYPE_CHECKING:
    from labkit.facade import Lab

__version__ = "0.1.0"
__all__ = ["Lab", "LabkitError", "lab", "__version__"]

# Library logging stays silent unless the application configures logging.
logging.getLogger("labkit").addHandler(logging.NullHandler())


def lab(
    backend: str | None = None,
    brokers: int | None = None,
    *,
    registry: bool = False,
    start: bool = True,
) -> Lab:
    """Attach to the running lab, or start one, and return a :class:`labkit.facade.Lab`.

    >>> lab = labkit.lab()  # doctest: +SKIP
    >>> lab.bootstrap_servers  # doctest: +SKIP
    '127.0.0.1:9092'
    """
    from labkit.facade import Lab

    return Lab.connect(backend=backend, brokers=brokers, registry=registry, start=start)


_LAZY = {"Lab": ("labkit.facade", "Lab")}
_SUBMODULES = {"cluster", "clients", "data", "serdes", "schemas", "cli"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
