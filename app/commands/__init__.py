"""Extra ``xmm-explorer`` subcommands, one module each.

Every module here defines ``register(subparsers) -> None``, which adds its parser and sets
``func=run`` on it (``run(args) -> int``). ``app.cli`` discovers them, so adding a command
is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(subparsers) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
