"""Experiment trackers and learning curves: ``report_to`` in every trainer config, the trackers object
fanning records out to TensorBoard, wandb and trackio (fake modules here, recording what reaches
them), resumed runs continuing the same tracker run, the install hint, and ``curves.png``."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

from sparring.errors import ConfigError, SparringError
from sparring.trainers.metrics import JsonlLog, check_report_to, plot_run, run_curves
from sparring.trainers.run_dir import RunLog, Trackers, hf_tracking
from tests.trainers import test_ppo
from tests.trainers.test_ppo import bandit_config

#: PPO's fixtures: the bandit env registered for the module, and the micro Llama
bandit_registered = test_ppo.bandit_registered
micro = test_ppo.micro


# --------------------------------------------------------------------------------------------------
# Fake trackers: modules that record every call
# --------------------------------------------------------------------------------------------------
class FakeRun:
    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls

    def log(self, record: dict[str, Any], step: int | None = None) -> None:
        self.calls.append(("log", dict(record), step))

    def finish(self) -> None:
        self.calls.append(("finish",))


def fake_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.calls = []
    run = FakeRun(module.calls)

    def init(**kwargs: Any) -> FakeRun:
        module.calls.append(("init", kwargs))
        return run

    module.init = init
    if name == "trackio":  # trackio's module-level API logs into the current run
        module.log, module.finish = run.log, run.finish
    return module


@pytest.fixture
def fakes(monkeypatch):
    wandb, trackio = fake_module("wandb"), fake_module("trackio")
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "trackio", trackio)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("TRACKIO_PROJECT", raising=False)
    return wandb, trackio


def inits(module: types.ModuleType) -> list[dict[str, Any]]:
    return [call[1] for call in module.calls if call[0] == "init"]


def logs(module: types.ModuleType) -> list[tuple[dict[str, Any], int]]:
    return [(call[1], call[2]) for call in module.calls if call[0] == "log"]


# --------------------------------------------------------------------------------------------------
# report_to in the configs and on the command line
# --------------------------------------------------------------------------------------------------
def test_report_to_names_trackers_or_none_and_refuses_others():
    assert check_report_to(["wandb", "trackio", "wandb"]) == ("wandb", "trackio")
    assert check_report_to("tensorboard,wandb") == ("tensorboard", "wandb")
    assert check_report_to(["none"]) == check_report_to(()) == ()
    with pytest.raises(ConfigError, match=r"unknown tracker\(s\) \['mlflow'\].*tensorboard"):
        check_report_to(["mlflow"])
    with pytest.raises(ConfigError, match="either none or trackers"):
        check_report_to(["none", "wandb"])


def _configs(tmp_path: Path) -> list[Any]:
    from sparring.trainers.adversarial import AdversarialConfig
    from sparring.trainers.dpo import DPOConfig
    from sparring.trainers.eto import ETOConfig
    from sparring.trainers.grpo import GRPOConfig
    from sparring.trainers.ppo import PPOConfig
    from sparring.trainers.recipes import SFTPPOConfig
    from sparring.trainers.reward_model import RewardModelConfig
    from sparring.trainers.sft import SFTConfig

    data = tmp_path / "data.jsonl"
    data.write_text("")
    return [(SFTConfig, {"data": [str(data)]}), (DPOConfig, {}), (ETOConfig, {}), (RewardModelConfig, {}),
            (PPOConfig, {}), (GRPOConfig, {}), (AdversarialConfig, {}), (SFTPPOConfig, {})]


def test_every_trainer_config_takes_report_to_and_checks_it(tmp_path):
    for cls, needed in _configs(tmp_path):
        assert cls(**needed).report_to == (), cls.__name__
        assert cls(**needed, report_to=["wandb", "trackio"]).report_to == ("wandb", "trackio")
        with pytest.raises(ConfigError, match="unknown tracker"):
            cls(**needed, report_to=["wandbb"])


def test_the_command_line_takes_several_trackers_after_report_to():
    from sparring.cli import build_parser
    from sparring.cli.options import config_from_args
    from sparring.trainers.ppo import PPOConfig

    args = build_parser().parse_args(["train", "ppo", "--report-to", "wandb", "trackio", "--no-progress"])
    config = config_from_args(PPOConfig, args)
    assert config.report_to == ("wandb", "trackio") and config.progress is False


def test_recipes_pass_report_to_down_to_their_stages(tmp_path):
    from sparring.trainers.adversarial import AdversarialConfig
    from sparring.trainers.recipes import SFTPPOConfig

    recipe = SFTPPOConfig(report_to=["wandb"])
    data = tmp_path / "data.jsonl"
    data.write_text("")
    assert recipe.ppo_config("tiny").report_to == recipe.sft_config(str(data)).report_to == ("wandb",)
    # min-max keeps one tracker run of its own; its PPO stage writes TensorBoard as it does
    minmax = AdversarialConfig(report_to=["tensorboard", "wandb"], tensorboard=False)
    ppo = minmax.ppo_config("tiny", 0, str(tmp_path))
    assert ppo.report_to == () and ppo.tensorboard and not ppo.progress


# --------------------------------------------------------------------------------------------------
# The trackers object
# --------------------------------------------------------------------------------------------------
def test_trackers_send_each_record_to_wandb_and_trackio_and_finish_them(fakes, tmp_path):
    wandb, trackio = fakes
    trackers = Trackers(tmp_path / "run", report_to=["wandb", "trackio"], config={"lr": 0.1, "env_ids": ("a",)})
    trackers.log({"iteration": 1, "loss": 0.5, "won": True, "kl": float("nan"), "note": "x"}, 1,
                 lambda name: f"ppo/{name}", skip=("iteration",))
    trackers.log({"loss": 0.25}, 2, lambda name: f"ppo/{name}")
    trackers.log({"success": 0.5}, 1, lambda name: f"round/{name}")  # another series: never below the last step
    trackers.close()
    trackers.close()  # once only

    identity = json.loads((tmp_path / "run" / "trackers.json").read_text())
    (w,) = inits(wandb)
    assert w == {"project": "sparring", "name": identity["name"], "dir": str(tmp_path / "run"),
                 "config": {"lr": 0.1, "env_ids": ["a"]}, "id": identity["id"], "resume": "allow"}
    (t,) = inits(trackio)
    assert t == {"project": "sparring", "name": f"{identity['name']}-{identity['id']}",
                 "config": {"lr": 0.1, "env_ids": ["a"]}, "resume": "allow"}
    expected = [({"ppo/loss": 0.5}, 1), ({"ppo/loss": 0.25}, 2), ({"round/success": 0.5}, 2)]
    assert logs(wandb) == logs(trackio) == expected
    assert wandb.calls[-1] == trackio.calls[-1] == ("finish",)
    assert [c for c in wandb.calls if c == ("finish",)] == [("finish",)]
    assert not (tmp_path / "run" / "tensorboard").exists()


def test_the_project_comes_from_the_environment(fakes, tmp_path, monkeypatch):
    wandb, trackio = fakes
    monkeypatch.setenv("WANDB_PROJECT", "mine")
    monkeypatch.setenv("TRACKIO_PROJECT", "theirs")
    Trackers(tmp_path, report_to=["wandb", "trackio"]).close()
    assert inits(wandb)[0]["project"] == "mine" and inits(trackio)[0]["project"] == "theirs"


def test_a_resumed_run_continues_the_same_tracker_run_and_a_new_one_starts_another(fakes, tmp_path):
    wandb, trackio = fakes
    for resume in (False, True, False):
        Trackers(tmp_path, report_to=["wandb", "trackio"], resume=resume).close()
    first, resumed, new = inits(wandb)
    assert resumed["id"] == first["id"] != new["id"]
    names = [i["name"] for i in inits(trackio)]
    assert names[1] == names[0] != names[2]


@pytest.mark.parametrize("missing", ["wandb", "trackio"])
def test_a_missing_tracker_package_says_how_to_install_it(missing, fakes, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=rf"pip install {missing}`"):
        Trackers(tmp_path, report_to=["wandb", "trackio"])
    assert not any(inits(m) for m in fakes), "no run starts when one package is missing"


def test_tensorboard_is_written_when_report_to_names_it(tmp_path):
    log = RunLog(tmp_path, prefix="ppo", tensorboard=False, report_to=["tensorboard"])
    log({"iteration": 1, "loss": 1.0})
    log.close()
    assert list((tmp_path / "tensorboard").iterdir())
    assert [r["loss"] for r in JsonlLog(tmp_path / "log.jsonl").read()] == [1.0]


def test_sft_and_dpo_hand_report_to_to_transformers_and_keep_one_wandb_run(fakes, tmp_path):
    from trl import SFTConfig as TRLConfig

    from sparring.trainers.devices import trainer_device_kwargs
    from sparring.trainers.sft import SFTConfig, _trl_config

    wandb, _ = fakes
    data = tmp_path / "data.jsonl"
    data.write_text("")
    out = tmp_path / "sft"
    config = SFTConfig(data=[str(data)], output_dir=str(out), report_to=["tensorboard", "wandb", "trackio"])
    kwargs, trackers = hf_tracking(config, out)
    identity = json.loads((out / "trackers.json").read_text())
    assert kwargs == {"report_to": ["wandb", "trackio"], "run_name": identity["run_name"], "project": "sparring"}
    assert inits(wandb)[0]["id"] == identity["id"]  # Transformers' callback logs into the run started here
    trackers.close()
    with warnings.catch_warnings():  # TRL's deprecations, as train_sft silences them
        warnings.simplefilter("ignore", FutureWarning)
        args = _trl_config(TRLConfig, SFTConfig(data=[str(data)], output_dir=str(out), progress=False), out,
                           trainer_device_kwargs)
        assert args.report_to == [] and args.disable_tqdm
        args = _trl_config(TRLConfig, config, out, trainer_device_kwargs, {**kwargs, "report_to": []})
    assert not args.disable_tqdm and args.run_name == identity["run_name"]
    resumed, _ = hf_tracking(dataclasses_replace(config, resume=True), out)
    assert resumed["run_name"] == identity["run_name"] and inits(wandb)[1]["id"] == identity["id"]


def dataclasses_replace(config: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(config, **changes)


# --------------------------------------------------------------------------------------------------
# A training run: its records reach the trackers, a resumed run continues them, curves.png
# --------------------------------------------------------------------------------------------------
def test_a_ppo_run_reports_every_iteration_resumes_the_same_run_and_draws_its_curves(micro, fakes, tmp_path):
    from sparring.trainers.ppo import train_ppo

    wandb, trackio = fakes
    out = tmp_path / "run"
    train_ppo(bandit_config(micro, out, iterations=2, report_to=["wandb", "trackio", "tensorboard"]))
    assert [step for _, step in logs(wandb)] == [step for _, step in logs(trackio)] == [1, 2]
    record, _ = logs(wandb)[-1]
    assert {"ppo/success", "ppo/return", "ppo/policy_loss", "ppo/value_loss"} <= set(record)
    assert "ppo/iteration" not in record
    assert list((out / "tensorboard").iterdir()), "report_to=tensorboard writes events with tensorboard=False"
    assert inits(wandb)[0]["config"]["iterations"] == 2

    train_ppo(bandit_config(micro, out, iterations=3, report_to=["wandb", "trackio"], resume=True))
    first, resumed = inits(wandb)
    assert resumed["id"] == first["id"] and inits(trackio)[1]["name"] == inits(trackio)[0]["name"]
    assert [step for _, step in logs(wandb)] == [1, 2, 3]
    assert [c[0] for c in wandb.calls].count("finish") == 2

    panels = png_panels(out / "curves.png")
    assert {"success", "return", "policy_loss", "value_loss", "entropy"} <= set(panels)
    assert "iteration" not in panels and "kl_diverging" not in panels  # the x axis and booleans are not curves
    assert [x for x, _ in run_curves(out)["success"]] == [1.0, 2.0, 3.0]


def png_panels(png: Path) -> list[str]:
    """The panels of a curves.png (plot_run names them in the PNG's Description)."""
    from PIL import Image

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        return image.info["Description"].removeprefix("panels: ").split(", ")


# --------------------------------------------------------------------------------------------------
# Curves of the logs each trainer writes
# --------------------------------------------------------------------------------------------------
def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_curves_of_a_min_max_run_name_each_log(tmp_path):
    _write(tmp_path / "adversary.jsonl", [{"round": 1, "update": u, "reward": 0.1 * u, "failure_rate": 0.5}
                                          for u in (1, 2)])
    _write(tmp_path / "rounds.jsonl", [{"round": 1, "clean_success": 0.5, "ppo/last_success": 0.25}])
    curves = run_curves(tmp_path)
    assert curves["adversary/reward"] == [(1.0, 0.1), (2.0, 0.2)]
    assert curves["rounds/clean_success"] == [(1.0, 0.5)] and "rounds/ppo/last_success" in curves
    assert "adversary/round" not in curves
    png = plot_run(tmp_path, tmp_path / "elsewhere" / "mm.png", metrics=["adversary/reward", "rounds/clean_success"])
    assert png_panels(png) == ["adversary/reward", "rounds/clean_success"] and not (tmp_path / "curves.png").exists()


def test_curves_of_hugging_face_and_eto_logs(tmp_path):
    # SFT / DPO: metrics.jsonl, with Transformers' one-point end-of-training record left out
    _write(tmp_path / "sft" / "metrics.jsonl", [{"step": 1, "epoch": 0.5, "loss": 2.0, "grad_norm": 1.0},
                                                {"step": 2, "epoch": 1.0, "loss": 1.0, "grad_norm": 0.5},
                                                {"step": 2, "epoch": 1.0, "train_runtime": 3.0, "train_loss": 1.5}])
    assert sorted(run_curves(tmp_path / "sft")) == ["grad_norm", "loss"]
    # ETO: rounds.jsonl, success per env id in a dict
    _write(tmp_path / "eto" / "rounds.jsonl", [{"round": 0, "policy": "tiny", "valid_success": {"a": 0.0, "mean": 0.0},
                                                "pairs": 0},
                                               {"round": 1, "policy": "r1", "valid_success": {"a": 0.5, "mean": 0.5},
                                                "pairs": 3}])
    assert run_curves(tmp_path / "eto")["valid_success/mean"] == [(0.0, 0.0), (1.0, 0.5)]
    assert "valid_success/mean" in png_panels(plot_run(tmp_path / "eto"))


def test_curves_say_what_is_missing(tmp_path):
    with pytest.raises(SparringError, match="no training log"):
        run_curves(tmp_path)
    _write(tmp_path / "log.jsonl", [{"iteration": 1, "loss": 1.0}])
    with pytest.raises(ConfigError, match=r"no metric \['los'\].*'loss'"):
        plot_run(tmp_path, metrics=["los"])


def test_without_matplotlib_a_trainer_logs_why_there_is_no_png(tmp_path, monkeypatch, caplog):
    from sparring.trainers.metrics import write_curves

    _write(tmp_path / "log.jsonl", [{"iteration": 1, "loss": 1.0}])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with caplog.at_level("INFO", logger="sparring.trainers.metrics"):
        assert write_curves(tmp_path) is None
    assert "pip install matplotlib" in caplog.text and not (tmp_path / "curves.png").exists()


def test_sft_and_dpo_progress_lines_go_to_stderr(capsys):
    import types as _types

    from tqdm.auto import tqdm

    from sparring.trainers.metrics import progress_callback

    callback = progress_callback()
    state = _types.SimpleNamespace(is_world_process_zero=True, global_step=2, max_steps=4)
    callback.training_bar = tqdm(total=4)
    callback.on_log(None, state, None, logs={"loss": 1.23456, "epoch": 0.5, "total_flos": 9.0})
    callback.training_bar.close()
    out, err = capsys.readouterr()
    assert out == "" and "step 2/4: loss 1.235, epoch 0.5\n" in err
