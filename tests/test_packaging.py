"""The distribution installs every part under the one import name `sparring`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("envs", "agents", "trainers", "adversary", "benchmarks", "cli")


def test_wheel_maps_each_folder_under_sparring_and_imports_without_the_source_tree(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = tmp_path.glob("sparring-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for part in PARTS:
        assert f"sparring/{part}/__init__.py" in names, part
    assert "sparring/py.typed" in names and "sparring/cli/__init__.py" in names
    assert not any(n.split("/")[0] in PARTS + ("core", "tests") for n in names), "no bare top-level packages"
    # every module in the source folders made it into the wheel
    for part in PARTS:
        for source in (ROOT / part).rglob("*.py"):
            assert f"sparring/{source.relative_to(ROOT).as_posix()}" in names, source

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import sparring, sparring.envs, sparring.agents, "
            "sparring.trainers, sparring.adversary, sparring.benchmarks.perf; "
            "assert sparring.__file__.startswith(sys.argv[1]), sparring.__file__; "
            "import gymnasium as gym; print(gym.make('sparring/Household-v0').reset(seed=0)[0][:30])")
    out = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Welcome" in out.stdout


def test_import_sparring_stays_light():
    code = "import sys, sparring; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
