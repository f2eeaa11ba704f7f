"""Extra ``xmm-explorer`` subcommands, one module each.

Every module here defines ``register(subparsers) -> None``, which adds its parser and sets
``func=run`` on it (``run(args) -> int``). ``app.cli`` discovers them, so adding a command
is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(subparsers, argv: list[str] | None = None) -> None:
    """Register every command; with ``argv``, only the modules named by one of its words (``alerts``,
    ``demo-observation`` for ``demo_observation``) when there are any: importing all of them costs
    seconds (each pulls in what its command runs), which a pipeline calling one command should not pay."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__))
    words = {w.replace("-", "_") for w in argv or ()}
    wanted = [n for n in names if n in words] or names
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
