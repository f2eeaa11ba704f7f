"""Reading the deploy/ files as an operator's tools would: the env file, the systemd unit's ExecStart."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines as systemd's EnvironmentFile= reads them (comments and blanks skipped)."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: {line!r} is not KEY=value"
        env[key.strip()] = value.strip()
    return env


def read_unit(path: Path) -> configparser.ConfigParser:
    """A systemd unit as INI (keys keep their case; repeated keys are not used by our unit)."""
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str
    unit.read_string(path.read_text(encoding="utf-8"))
    return unit


def exec_start_argv(unit: configparser.ConfigParser, env: dict[str, str]) -> list[str]:
    """ExecStart split and with ``${VAR}`` replaced from ``env``, as systemd does (one word per variable)."""
    words = shlex.split(unit["Service"]["ExecStart"])

    def expand(word: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], word)

    return [expand(w) for w in words]
