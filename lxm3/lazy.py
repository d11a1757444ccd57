"""Package names imported on first use (PEP 562), so a command loads only what it touches.

`lxm3 list` and `lxm3 status` must not import the XManager API, Jinja or every
executor; a launch script still writes `xm.JobRequirements` or
`xm_cluster.Slurm`. Each lazy package keeps a table, public name -> (module,
attribute; None: the module itself) or just the module (the same name in it), and hands its `__getattr__` (and, where it
lists its names, `__dir__`) to one `LazyNames`. Standard library only: the
lowest layer, importable from `lxm3.xm` up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any


class LazyNames:
    """A package's names that are imported when first looked up, then kept in its namespace."""

    def __init__(self, package: str, exports: Mapping[str, tuple[str, str | None] | str]) -> None:
        self._package = package
        self._exports = exports

    def get(self, name: str) -> Any:
        """The value of `package.name`, importing its module the first time."""
        try:
            entry = self._exports[name]
        except KeyError:
            raise AttributeError(f"module {self._package!r} has no attribute {name!r}") from None
        module_name, attribute = (entry, name) if isinstance(entry, str) else entry
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        vars(sys.modules[self._package])[name] = value  # later look-ups skip __getattr__
        return value

    def names(self) -> list[str]:
        """What `dir(package)` lists: what it holds now and what it can import."""
        return sorted({*vars(sys.modules[self._package]), *self._exports})


class LazyModule:
    """A module imported on its first attribute look-up (`asyncio = LazyModule("asyncio")`).

    For modules imported by code that `lxm3 status` and `lxm3 list` load but
    whose functions they never call (the XManager API's asyncio). Declare the
    real import under `TYPE_CHECKING` so type checkers see the module.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)
