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
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"


def cache_root() -> Path:
    """The root directory of sparring's cache (created on demand)."""
    if os.environ.get("SPARRING_CACHE"):
        root = Path(os.environ["SPARRING_CACHE"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]) / "sparring"
    else:
        root = Path.home() / ".cache" / "sparring"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_manifest(directory: Path) -> None:
    files = {
        p.relative_to(directory).as_posix(): {"size": p.stat().st_size, "sha256": _digest(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (directory / MANIFEST).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))


def is_complete(directory: Path, *, verify_hashes: bool = True) -> bool:
    """Whether ``directory`` holds a complete entry: a manifest whose files all exist and match."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        for name, meta in manifest["files"].items():
            path = directory / name
            if path.stat().st_size != meta["size"]:
                return False
            if verify_hashes and _digest(path) != meta["sha256"]:
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
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


def ensure_entry(path: Path, build: Callable[[Path], None], *, verify_hashes: bool = True) -> Path:
    """Returns ``path`` once it holds a complete entry, calling ``build(tmp_dir)`` to make it if needed.

    ``build`` writes the entry's files into the empty directory it is given; it may raise, in which
    case nothing is left behind and the error propagates.
    """
    if is_complete(path, verify_hashes=verify_hashes):
        return path
    with _locked(path.with_name(path.name + ".lock")):
        if is_complete(path, verify_hashes=verify_hashes):  # another process built it while we waited
            return path
        if path.exists():
            logger.warning("cache entry %s is incomplete or corrupted; rebuilding it", path)
            shutil.rmtree(path, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            build(tmp)
            write_manifest(tmp)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path
