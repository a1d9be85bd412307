"""The trainers under a multi-process launcher (``torchrun``, which ``accelerate launch`` also uses),
on two CPU processes with the Gloo backend: one summary, one checkpoint, the batch split across
processes. Slow (each launch starts two Python processes that load PyTorch and the tiny model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sparring.agents import OracleAgent, RandomAgent
from sparring.trainers.collect import collect

pytestmark = pytest.mark.slow
HOUSEHOLD = "sparring/Household-v0"
TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))


def _launch(argv: list[str], cwd: Path, processes: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [*argv, "--json"] if argv[:1] == ["train"] else argv  # the trainer's result as JSON on stdout
    if processes == 1:
        command = [sys.executable, "-m", "sparring.cli", *argv]
    else:
        command = [TORCHRUN, "--nproc-per-node", str(processes), "-m", "sparring.cli", *argv]
    out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _summary(stdout: str) -> dict:
    start = stdout.index("{")
    return json.loads(stdout[start:stdout.rindex("}") + 1])


@pytest.fixture(scope="module")
def data(tmp_path_factory, sparring_cache):
    root = tmp_path_factory.mktemp("dist-data")
    collect(OracleAgent(), [HOUSEHOLD], ["train"], root / "oracle.jsonl", episodes=8, env_kwargs={"difficulty": "easy"})
    collect(RandomAgent(), [HOUSEHOLD], ["train"], root / "random.jsonl", episodes=8, env_kwargs={"difficulty": "easy"})
    return root


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
def test_reward_model_on_two_processes_matches_one_process(data, tmp_path):
    argv = ["train", "reward", "--data", str(data / "oracle.jsonl"), str(data / "random.jsonl"), "--epochs", "1",
            "--batch-size", "8", "--no-tensorboard", "--device", "cpu"]
    one = _summary(_launch([*argv, "--output-dir", str(tmp_path / "one")], tmp_path, 1).stdout)
    launched = _launch([*argv, "--output-dir", str(tmp_path / "two")], tmp_path, 2)
    two = _summary(launched.stdout)
    assert launched.stdout.count('"model_dir"') == 1  # one process prints
    # each process took half of every batch and the gradients were summed: the same training run
    assert two["history"][0]["train_loss"] == pytest.approx(one["history"][0]["train_loss"], rel=1e-4)
    from safetensors.torch import load_file

    def weights(run: str) -> dict[str, torch.Tensor]:
        files = sorted((tmp_path / run / "reward_model").rglob("*.safetensors"))
        assert files, f"no weights in {run}"
        return {f"{f.name}/{k}": v for f in files for k, v in load_file(f).items()}

    a, b = weights("one"), weights("two")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
def test_sft_on_two_processes_splits_each_epoch_and_writes_one_policy(data, tmp_path):
    argv = ["train", "sft", "--data", str(data / "oracle.jsonl"), "--epochs", "1", "--batch-size", "4"]
    one = _summary(_launch([*argv, "--output-dir", str(tmp_path / "one")], tmp_path, 1).stdout)
    launched = _launch([*argv, "--output-dir", str(tmp_path / "two")], tmp_path, 2)
    two = _summary(launched.stdout)
    assert launched.stdout.count('"examples"') == 1
    assert two["examples"] == one["examples"]
    assert two["steps"] == -(-one["examples"] // 8) and one["steps"] == -(-one["examples"] // 4)
    from sparring.agents.policy import AgentModel

    policy = AgentModel.load(tmp_path / "two" / "final")
    assert sum(p.numel() for p in policy.model.parameters()) > 0
