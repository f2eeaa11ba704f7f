"""Atomic release replacement on disk, and the clean-up of what a killed ingest leaves behind.

Layout under ``data_dir/releases``::

    DR14 -> .DR14.v1733312345123456789-4242     symlink, swapped with one rename(2)
    .DR14.v1733312345123456789-4242/           the complete release it points at
    .DR14.ingest-4242-abc123/                  an ingest being written (pid 4242)

An ingest writes ``.NAME.ingest-PID-*``, renames it to a version directory, and points
``NAME`` at it by renaming a fresh symlink over the old one: a process killed at any point
leaves ``NAME`` pointing at the old complete release or at the new complete one. A release
from an earlier version is a plain directory: it is first renamed to a version directory; if
the process dies in that one instant, :func:`clean_stale` (run at the next ingest or server
start) points ``NAME`` back at the newest complete version.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from data_loaders import schema
from data_loaders.process_cache import invalidate_path

log = logging.getLogger(__name__)

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:ingest|link|old)-(?P<pid>\d+)(?:-.*)?$")
_VERSION = re.compile(r"^\.(?P<name>.+)\.v(?P<stamp>\d+)-(?P<pid>\d+)$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_dir(root: Path, name: str) -> Path:
    """A fresh temporary directory for release ``name`` under ``root``, tagged with this process id."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.ingest-{os.getpid()}-", dir=root))


def _complete(path: Path) -> bool:
    return (path / schema.RELEASE_META_FILE).is_file() and (path / schema.DETECTIONS_DIR).exists()


def install_release(built: Path, final: Path) -> None:
    """Make the fully written release directory ``built`` the release ``final``, atomically.

    The previous version is removed once ``final`` points at the new one, and what this process
    cached from it is forgotten (:func:`data_loaders.process_cache.invalidate_path`).
    """
    root, name = final.parent, final.name
    version = root / f".{name}.v{time.time_ns()}-{os.getpid()}"
    built.rename(version)
    link = root / f".{name}.link-{os.getpid()}"
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    previous = None
    if final.is_symlink():
        previous = root / os.readlink(final)
    elif final.exists():  # a plain directory from an earlier version of ingest
        previous = root / f".{name}.v0-{os.getpid()}"
        final.rename(previous)
    os.replace(link, final)
    if previous is not None:
        invalidate_path(previous)
    invalidate_path(final)
    if previous is not None and previous.resolve() != version.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def clean_stale(root: Path) -> list[str]:
    """Remove what killed ingests left under ``root`` and repair a release left without its link.

    Temporary directories of live processes are kept. Returns what was done, one line each.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    done = []
    entries = list(root.iterdir())
    for p in entries:
        m = _TEMP.match(p.name)
        if m and not _alive(int(m["pid"])):
            size = 0
            if p.is_dir() and not p.is_symlink():
                size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            done.append(f"removed {p.name} left by an interrupted ingest ({size / 1e6:.1f} MB)")
    versions: dict[str, list[tuple[Path, re.Match[str]]]] = {}
    for p in entries:
        m = _VERSION.match(p.name)
        if m and p.exists():
            versions.setdefault(m["name"], []).append((p, m))
    for name, paths in versions.items():
        final = root / name
        target = (root / os.readlink(final)) if final.is_symlink() else None
        if not final.exists():
            complete = sorted(((p, m) for p, m in paths if _complete(p)), key=lambda pm: int(pm[1]["stamp"]))
            if complete:
                target = complete[-1][0]
                link = root / f".{name}.link-{os.getpid()}"
                link.unlink(missing_ok=True)
                os.symlink(target.name, link)
                os.replace(link, final)
                done.append(f"release {name} pointed again at {target.name} (an ingest was interrupted)")
        for p, m in paths:
            owner = int(m["pid"])
            if (target is None or p.resolve() != target.resolve()) and not (owner != os.getpid() and _alive(owner)):
                shutil.rmtree(p, ignore_errors=True)
                done.append(f"removed {p.name}, a release version nothing points at")
    for line in done:
        log.warning(line)
    return done
