"""The on-disk cache for things sparring builds once and reuses: converted model weights, tokenizers,
generated games.

Each entry is a directory. It is built by one process at a time (a file lock beside it), into a
temporary directory next to it, with a manifest of every file's size and SHA-256 written last, and
then moved into place with one atomic rename, so a reader sees either nothing or a complete entry.
An entry whose manifest is missing or does not match its files (a crash, a full disk, a hand edit)
is rebuilt.

The cache root is ``$SPARRING_CACHE`` if set, else ``$XDG_CACHE_HOME/sparring``, else
``~/.cache/sparring``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sparring.fileio import staged_dir

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: the environment variable that moves the cache
CACHE_ENV = "SPARRING_CACHE"


def cache_root() -> Path:
    """The root directory of sparring's cache: ``$SPARRING_CACHE``, else ``$XDG_CACHE_HOME/sparring``,
    else ``~/.cache/sparring``."""
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser().absolute()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "sparring").absolute()


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_manifest(directory: Path, meta: dict[str, Any] | None = None) -> None:
    """Writes the manifest (every file's SHA-256, plus ``meta``) last, flushed to disk."""
    files = {
        p.relative_to(directory).as_posix(): _digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    with open(directory / MANIFEST, "w", encoding="utf-8") as handle:
        handle.write(json.dumps({**(meta or {}), "files": files}, indent=1, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def is_complete(directory: Path, *, verify_hashes: bool = True) -> bool:
    """Whether ``directory`` holds a complete entry: a manifest whose files all exist and match."""
    try:
        for name, digest in read_manifest(directory)["files"].items():
            path = directory / name
            if not path.is_file() or (verify_hashes and _digest(path) != digest):
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the atomic rename still protects readers
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_entry(path: Path, build: Callable[[Path], dict[str, Any] | None], *,
                 verify_hashes: bool = True) -> bool:
    """Makes sure ``path`` holds a complete entry, calling ``build(tmp_dir)`` to make it if needed;
    returns whether this call built it.

    ``build`` writes the entry's files into the empty directory it is given and may return a dict
    stored in the manifest; if it raises, nothing is left behind and the error propagates.
    Temporary directories left by a killed build are removed.
    """
    if is_complete(path, verify_hashes=verify_hashes):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        if is_complete(path, verify_hashes=verify_hashes):  # another process built it while we waited
            return False
        for stale in path.parent.glob(f".{path.name}.*"):
            shutil.rmtree(stale, ignore_errors=True)
        if path.exists():
            logger.warning("cache entry %s is incomplete or corrupted; rebuilding it", path)
            shutil.rmtree(path, ignore_errors=True)
        with staged_dir(path) as tmp:
            meta = build(tmp)
            write_manifest(tmp, meta)
    return True
