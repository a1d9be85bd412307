"""Imports point down the layers only (docs/DESIGN.md, "Layers"): core <- envs <- agents <- adversary
<- trainers <- benchmarks <- cli. A module may import its own part and any part below it, never one
above, not even inside a function (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

#: folder -> (import path, rank), lowest first; a module may import parts of its own rank or lower
LAYERS: dict[str, tuple[str, int]] = {
    "core": ("sparring", 0),
    "envs": ("sparring.envs", 1),
    "agents": ("sparring.agents", 2),
    "adversary": ("sparring.adversary", 3),
    "trainers": ("sparring.trainers", 4),
    "benchmarks": ("sparring.benchmarks", 5),
    "cli": ("sparring.cli", 6),
}
#: (file, imported module): the package root's two entry points, which import upward by design
ALLOWED = {
    ("core/__init__.py", "sparring.envs"),  # `import sparring` registers every env id with Gymnasium
    ("core/__main__.py", "sparring.cli"),  # `python -m sparring` runs the command line
}


def part_of(module: str) -> str | None:
    """The folder (part) that an absolute module name lives in; None outside sparring."""
    if module != "sparring" and not module.startswith("sparring."):
        return None
    best = "core"
    for folder, (package, _) in LAYERS.items():
        if folder != "core" and (module == package or module.startswith(package + ".")):
            best = folder
    return best


def imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every import anywhere in ``tree`` (functions and classes included);
    ``from sparring import envs`` counts as ``sparring.envs``, relative imports are made absolute."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def upward_imports(path: Path, folder: str, root: Path = ROOT) -> list[str]:
    """``file:line: imports X (part Y is above part Z)`` for each upward import in one source file."""
    relative = path.relative_to(root).as_posix()
    package = ".".join([LAYERS[folder][0], *path.relative_to(root / folder).parent.parts])
    rank = LAYERS[folder][1]
    problems, seen = [], set()
    for line, module in imported_modules(ast.parse(path.read_text(encoding="utf-8"), str(path)), package):
        target = part_of(module)
        if target is None or LAYERS[target][1] <= rank:
            continue
        if any(relative == file and (module == allowed or module.startswith(allowed + ".")) for file, allowed in ALLOWED):
            continue
        # `from sparring.x import y` also yields `sparring.x.y`: report the statement once
        if line in seen:
            continue
        seen.add(line)
        problems.append(f"{relative}:{line}: imports {module} (part {target}/ is above {folder}/)")
    return problems


def sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_mapped_folder_has_a_layer():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    folders = {path.split("/")[0] for path in pyproject["tool"]["setuptools"]["package-dir"].values()}
    assert folders == set(LAYERS), f"give each folder of pyproject's package-dir a rank in LAYERS: {folders ^ set(LAYERS)}"


@pytest.mark.parametrize("folder", list(LAYERS))
def test_no_upward_imports(folder):
    problems = [problem for path in sources(folder) for problem in upward_imports(path, folder)]
    assert not problems, "upward imports (move the code down, or the import up; docs/DESIGN.md):\n" + "\n".join(problems)


def test_the_check_finds_upward_imports_inside_functions_and_relative_ones(tmp_path):
    (tmp_path / "agents" / "sub").mkdir(parents=True)
    source = tmp_path / "agents" / "_layers_probe.py"
    source.write_text("import os\n\ndef f():\n    from sparring.trainers.sft import SFTConfig\n    from sparring import cli\n"
                      "    from sparring import errors, envs\n    from .rollout import run_episodes\n")
    assert part_of("sparring.trainers.sft") == "trainers" and part_of("sparring.errors") == "core"
    assert part_of("sparring.benchmarks.perf.env_throughput") == "benchmarks" and part_of("numpy") is None
    assert (1, "sparring.agents.sub.x") in imported_modules(ast.parse("from ..sub import x"), "sparring.agents.sub")
    assert (1, "sparring.x") in imported_modules(ast.parse("from .. import x"), "sparring.agents")
    assert upward_imports(source, "agents", root=tmp_path) == [
        "agents/_layers_probe.py:4: imports sparring.trainers.sft (part trainers/ is above agents/)",
        "agents/_layers_probe.py:5: imports sparring.cli (part cli/ is above agents/)",
    ]
