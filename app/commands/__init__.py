"""Extra ``xmm-explorer`` subcommands, one module each.

Every module here defines ``register(subparsers) -> None``, which adds its parser and sets
``func=run`` on it (``run(args) -> int``). ``app.cli`` discovers them, so adding a command
is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil


def _command_word(argv: list[str]) -> str | None:
    """The subcommand of an ``xmm-explorer`` command line: its first word that is neither an option
    nor the value of ``--data-dir``."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--data-dir":
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def register_all(subparsers, argv: list[str] | None = None) -> None:
    """Register every command; with ``argv`` whose subcommand is one module's (``alerts``;
    ``demo-observation`` for ``demo_observation``), only that module: importing all of them costs
    seconds (each pulls in what its command runs), which a pipeline calling one command should not pay."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__))
    word = _command_word(list(argv or ()))
    wanted = [word.replace("-", "_")] if word and word.replace("-", "_") in names else names
    for name in wanted:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
