"""The vulnerability report: where an agent breaks, how badly, and on which words.

:func:`run_report` plays the agent clean and under a suite of attacks — one per operator family and
target field (``char`` on the observation, ``char`` on the admissible actions, ``injection`` in the
observation...), each with every operator of its family, at one budget and schedule — on the same
tasks, and measures per attack: success, the performance drop rate and the attack success rate
with paired-bootstrap intervals (:mod:`sparring.adversary.metrics`), how often the agent's
chosen action flips, the targeted success of injections, validity, edit fraction and queries.

It then asks which words and positions flip decisions: on turns of the clean episodes it deletes,
or swaps for a synonym, each of a sample of the observation's words and measures the change in the
agent's probability of the action it chose (and whether its choice changes). Flips and word probes
need a scorer of the agent (the ReAct agent in score mode); for other agents the report gives the
outcome metrics only.

:func:`write_report` writes ``report.md``, ``report.json``, ``robustness.png`` and ``words.png``
(matplotlib, Agg backend) into a directory, atomically.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.adversary.config import AttackConfig
from sparring.adversary.edits import FIELDS
from sparring.adversary.operators import FAMILIES
from sparring.adversary.play import EpisodeLog, play
from sparring.adversary.policies import GreedyPolicy
from sparring.adversary.registry import BY_FAMILY, OPERATORS, catalogue, split_of
from sparring.adversary.scoring import ActionScorer, ReActScorer, ScoreRequest, argmax, choice_probabilities
from sparring.adversary.words import THESAURUS, lexicon_table, words_of
from sparring.errors import ConfigError, UnknownNameError

#: the fields each family's attacks are aimed at in the default suite
SUITE_TARGETS: dict[str, tuple[str, ...]] = {
    family: tuple(f for f in FIELDS if any(f in OPERATORS[n].fields for n in BY_FAMILY[family])) for family in FAMILIES
}


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """What a vulnerability report runs."""

    env_ids: tuple[str, ...]  #: env ids to attack the agent on
    split: str = "test"  #: the split the tasks come from
    episodes: int = 10  #: tasks per env (seeds seed_offset, seed_offset + 1, ...)
    seed_offset: int = 0  #: first task seed
    families: tuple[str, ...] = FAMILIES  #: operator families in the suite
    targets: tuple[str, ...] = FIELDS  #: target fields in the suite (each family keeps those it can edit)
    attack: AttackConfig | None = None  #: one attack instead of the suite (its budget, schedule and policy)
    budget: int = 2  #: edit units per field and perturbed turn, for every attack of the suite
    schedule: str = "all"  #: perturbed turns, for every attack of the suite
    policy: str = "random"  #: random | greedy (greedy needs a scorer of the agent)
    query_budget: int = 16  #: greedy: agent queries per perturbed turn
    hijack: str = "action"  #: injection targets: action | state
    attack_seed: int = 0  #: seed of the perturbations
    num_envs: int = 1  #: envs played side by side
    env_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)  #: env kwargs (difficulty knobs)
    probe_steps: int = 4  #: clean turns probed for word importance (needs a scorer)
    probe_words: int = 24  #: words probed per turn
    transcripts: int = 1  #: example transcripts per attack
    samples: int = 1  #: perturbations sampled per task (attack seeds attack_seed..): K of RSR@K (1: not measured)
    resamples: int = 2000  #: bootstrap resamples of the intervals

    def __post_init__(self) -> None:
        from sparring.envs.registration import entry

        object.__setattr__(self, "env_ids", tuple(self.env_ids))
        if not self.env_ids:
            raise ConfigError("name at least one env id to attack the agent on (--env sparring/Household-v0)")
        for env_id in self.env_ids:
            if self.split not in entry(env_id).splits:
                raise ConfigError(f"{env_id} has no split {self.split!r}; it has {entry(env_id).splits}")
        families = tuple(self.families.split(",")) if isinstance(self.families, str) else tuple(self.families)
        for family in families:
            if family not in FAMILIES:
                raise UnknownNameError("operator family", family, FAMILIES)
        object.__setattr__(self, "families", families)
        targets = tuple(self.targets.split(",")) if isinstance(self.targets, str) else tuple(self.targets)
        for target in targets:
            if target not in FIELDS:
                raise UnknownNameError("target field", target, FIELDS)
        object.__setattr__(self, "targets", targets)
        for knob in ("episodes", "budget", "num_envs", "query_budget", "samples", "resamples"):
            value = getattr(self, knob)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{knob} must be a positive integer, got {value!r}")
        for knob in ("probe_steps", "probe_words", "transcripts", "seed_offset"):
            value = getattr(self, knob)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{knob} must be a non-negative integer, got {value!r}")
        if not self.suite():
            raise ConfigError(f"no attack in the suite: families {list(families)} edit none of {list(targets)}")

    def suite(self) -> list[tuple[str, str, str, AttackConfig]]:
        """``(row name, family, target, attack)`` for every attack the report runs."""
        if self.attack is not None:
            families = sorted({OPERATORS[n].family for n in self.attack.resolved_names()})
            return [(self.attack.label, "+".join(families), "+".join(self.attack.targets), self.attack)]
        rows = []
        for family in self.families:
            for target in SUITE_TARGETS[family]:
                if target not in self.targets:
                    continue
                rows.append((f"{family}:{target}", family, target, AttackConfig(
                    operators=BY_FAMILY[family], budget=self.budget, targets=(target,), schedule=self.schedule,
                    policy=self.policy, query_budget=self.query_budget, hijack=self.hijack, seed=self.attack_seed,
                    name=f"{family}:{target}")))
        return rows


def run_report(agent: Any, config: ReportConfig, scorer: ActionScorer | None = None) -> dict[str, Any]:
    """Plays the clean run and every attack of the suite; returns the report's data (JSON-able)."""
    from sparring.adversary.metrics import (
        mean_with_interval,
        robust_success_rate_at_k,
        robustness_summary,
        validity_rate,
    )

    if scorer is None and getattr(agent, "mode", None) == "score" and hasattr(agent, "candidate_logprobs"):
        scorer = ReActScorer(agent)
    suite = config.suite()
    if any(a.policy == "greedy" for _, _, _, a in suite) and scorer is None:
        raise ConfigError("the greedy policy queries the agent's action scores: use a react agent in score mode "
                          "(--agent react --mode score), or --policy random")
    seeds = range(config.seed_offset, config.seed_offset + config.episodes)
    keep = config.probe_steps  # an episode has at least one turn: enough to probe from
    clean_logs: list[EpisodeLog] = []
    for env_id in config.env_ids:
        clean_logs += play(agent, env_id, seeds, split=config.split, env_kwargs=config.env_kwargs,
                           num_envs=config.num_envs, keep_turns=keep)
    clean = {log.key: log.won for log in clean_logs}
    attacked: dict[str, dict[str, bool]] = {}
    hijacked: dict[str, dict[str, bool]] = {}
    rows: list[dict[str, Any]] = []
    transcripts: list[dict[str, Any]] = []
    for name, family, target, attack in suite:
        factory = (functools.partial(GreedyPolicy, scorer, query_budget=attack.query_budget,
                                     candidates_per_round=attack.candidates_per_round)
                   if attack.policy == "greedy" else None)
        logs: list[EpisodeLog] = []
        for env_id in config.env_ids:
            logs += play(agent, env_id, seeds, attack=attack, split=config.split, env_kwargs=config.env_kwargs,
                         num_envs=config.num_envs, scorer=scorer, policy=factory, keep_turns=config.transcripts)
        attacked[name] = {log.key: log.won for log in logs}
        solved = {log.key: [log.won] for log in logs}
        for k in range(1, config.samples):  # more sampled perturbations of the same tasks, for RSR@K
            again = attack.replace(seed=attack.seed + k)
            for env_id in config.env_ids:
                for log in play(agent, env_id, seeds, attack=again, split=config.split, env_kwargs=config.env_kwargs,
                                num_envs=config.num_envs, policy=factory):
                    solved[log.key].append(log.won)
        if any(log.hijacks for log in logs):
            hijacked[name] = {log.key: log.hijacked for log in logs if log.hijacks}
        probed = sum(log.probed_turns for log in logs)
        perturbed_turns = sum(log.perturbed_turns for log in logs)
        rows.append({
            "attack": name, "family": family, "target": target, "config": attack.to_dict(),
            "operators": [{"name": op, "split": split_of(op)} for op in attack.resolved_names()],
            "episodes": len(logs), "perturbed_turns": perturbed_turns,
            "flip_rate": sum(log.flips for log in logs) / probed if probed else math.nan, "probed_turns": probed,
            "validity": validity_rate([True] * sum(log.valid_actions for log in logs)
                                      + [False] * sum(log.perturbed_actions - log.valid_actions for log in logs)),
            "perturbed_actions": sum(log.perturbed_actions for log in logs),
            "edit_fraction": mean_with_interval([f for log in logs for f in log.edit_fractions], seed=config.attack_seed),
            "queries_per_turn": sum(log.queries for log in logs) / perturbed_turns if perturbed_turns else 0.0,
            "rsr_at_k": robust_success_rate_at_k(list(solved.values())) if config.samples > 1 else math.nan,
            "k": config.samples,
        })
        for log in logs[:config.transcripts]:
            transcripts.append({"attack": name, **_transcript(log)})
        rows[-1]["episodes_detail"] = [{"key": log.key, "won": log.won, "steps": log.steps, "hijacked": log.hijacked,
                                        "flips": log.flips, "probed_turns": log.probed_turns} for log in logs]
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["family"], []).append(row["attack"])
    summary = robustness_summary(clean, attacked, hijacked=hijacked, groups=groups, resamples=config.resamples,
                                 seed=config.attack_seed)
    for row in rows:
        row.update(summary["attacks"][row["attack"]])
    words = probe_words(clean_logs, scorer, steps=config.probe_steps, words=config.probe_words,
                        seed=config.attack_seed) if scorer is not None and config.probe_steps else None
    return {
        "agent": getattr(agent, "name", type(agent).__name__),
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "attack"}
        | {"attack": config.attack.to_dict() if config.attack else None},
        "tasks": summary["tasks"], "sr_clean": summary["sr_clean"], "sr_clean_ci95": summary["sr_clean_ci95"],
        "macro_pdr": summary.get("macro_pdr", math.nan), "macro_pdr_ci95": summary.get("macro_pdr_ci95"),
        "families": summary.get("groups", {}), "rows": rows, "words": words, "transcripts": transcripts,
        "clean_episodes": [log.to_dict() | {"turns": []} for log in clean_logs],
        "operators": catalogue(),
    }


def _transcript(log: EpisodeLog, turns: int = 4) -> dict[str, Any]:
    shown = []
    for turn in log.turns:
        if turn.records:
            shown.append({"turn": turn.turn, "clean": turn.clean_observation, "shown": turn.observation,
                          "instruction": turn.instruction, "actions": turn.actions,
                          "edits": [{k: r[k] for k in ("operator", "field", "index", "before", "after")}
                                    for r in turn.records],
                          "action": turn.action, "command": turn.command, "clean_choice": turn.clean_choice,
                          "flipped": turn.flipped})
        if len(shown) >= turns:
            break
    return {"env_id": log.env_id, "seed": log.seed, "won": log.won, "steps": log.steps,
            "hijacks": log.hijacks, "turns": shown}


# --------------------------------------------------------------------------------------------------
# Which words flip decisions
# --------------------------------------------------------------------------------------------------
def probe_words(logs: Sequence[EpisodeLog], scorer: ActionScorer, *, steps: int = 4, words: int = 24,
                seed: int = 0, batch: int = 16) -> dict[str, Any]:
    """Word deletions and substitutions on ``steps`` clean turns (spread over the episodes): per
    word and per position (tenths of the observation), how often the agent's choice flips and how
    much its probability of the chosen action drops."""
    from sparring.envs.registration import family_class

    rng = random.Random(seed)
    turns = [(log, t) for log in logs for t in range(len(log.turns)) if log.turns[t].actions]
    if not turns:
        return {"probed_turns": 0, "queries": 0, "words": [], "positions": [], "kinds": {}}
    picked = [turns[int(k * len(turns) / steps)] for k in range(min(steps, len(turns)))]
    temperature = getattr(scorer, "temperature", 1.0) or 1.0
    by_word: dict[str, dict[str, float]] = {}
    by_position = [{"probes": 0, "flips": 0, "drop": 0.0} for _ in range(10)]
    by_kind: dict[str, dict[str, float]] = {}
    queries = 0
    for log, t in picked:
        turn = log.turns[t]
        history = [(log.turns[j].observation, log.turns[j].action) for j in range(t)]
        obs = turn.observation
        lexicon = getattr(family_class(log.family), "lexicon", None)
        table = lexicon_table(lexicon, log.family, prose=True) if lexicon is not None and len(lexicon) else None
        synonyms = {(s, e): alts for s, e, alts in (table.find(obs) if table else [])}
        synonyms.update({(s, e): alts for s, e, alts in THESAURUS.find(obs)})
        spans = words_of(obs)
        if len(spans) > words:
            spans = [spans[int(k * len(spans) / words)] for k in range(words)]
        variants = []
        for s, e in spans:
            end = e + 1 if e < len(obs) and obs[e] == " " else e
            variants.append(("delete", obs[s:e], (s + e) / 2 / max(len(obs), 1), obs[:s] + obs[end:]))
            alts = next((a for (s2, e2), a in synonyms.items() if s2 == s), None)
            if alts:
                e2 = next(e2 for (s2, e2) in synonyms if s2 == s)
                variants.append(("substitute", obs[s:e2], (s + e2) / 2 / max(len(obs), 1),
                                 obs[:s] + alts[int(rng.random() * len(alts))] + obs[e2:]))
        base = ScoreRequest(log.family, turn.instruction, history, obs, turn.actions)
        requests = [base] + [ScoreRequest(log.family, turn.instruction, history, v[3], turn.actions) for v in variants]
        results: list[list[float]] = []
        for at in range(0, len(requests), batch):
            results += scorer.scores(requests[at:at + batch])
        queries += len(requests)
        chosen = argmax(results[0])
        p0 = choice_probabilities(results[0], temperature)[chosen]
        for (kind, word, where, _), scores in zip(variants, results[1:], strict=True):
            drop = p0 - choice_probabilities(scores, temperature)[chosen]
            flip = argmax(scores) != chosen
            for bucket in (by_word.setdefault(word.lower(), {"probes": 0, "flips": 0, "drop": 0.0}),
                           by_position[min(9, int(where * 10))],
                           by_kind.setdefault(kind, {"probes": 0, "flips": 0, "drop": 0.0})):
                bucket["probes"] += 1
                bucket["flips"] += flip
                bucket["drop"] += drop

    def finish(bucket: dict[str, float]) -> dict[str, float]:
        n = bucket["probes"]
        return {"probes": int(n), "flips": int(bucket["flips"]), "flip_rate": bucket["flips"] / n if n else math.nan,
                "mean_drop": bucket["drop"] / n if n else math.nan}

    ranked = sorted(((w, finish(b)) for w, b in by_word.items()),
                    key=lambda wb: (-wb[1]["flip_rate"], -wb[1]["mean_drop"], wb[0]))
    return {
        "probed_turns": len(picked), "queries": queries,
        "words": [{"word": w, **stats} for w, stats in ranked],
        "positions": [{"decile": k, **finish(b)} for k, b in enumerate(by_position)],
        "kinds": {k: finish(b) for k, b in by_kind.items()},
    }


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(pair: Any) -> str:
    if not pair or any(v is None or (isinstance(v, float) and math.isnan(v)) for v in pair):
        return "n/a"
    return f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def to_markdown(data: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    config = data["config"]
    lines = [
        f"# Vulnerability report: {data['agent']}",
        "",
        f"Envs {', '.join(config['env_ids'])}, split `{config['split']}`, {data['tasks']} tasks "
        f"(seeds {config['seed_offset']}..{config['seed_offset'] + config['episodes'] - 1} per env). "
        + (f"Attack `{config['attack']['name'] or '+'.join(config['attack']['operators'])}`." if config["attack"] else
           f"Suite: every operator of a family on one target field, budget {config['budget']} per perturbed turn, "
           f"schedule `{config['schedule']}`, policy `{config['policy']}`, attack seed {config['attack_seed']}."),
        "",
        f"**Clean success** {_fmt(data['sr_clean'])} {_ci(data['sr_clean_ci95'])} (95% Wilson). "
        f"**Macro PDR** {_fmt(data['macro_pdr'])} {_ci(data['macro_pdr_ci95'])} (mean over families; paired bootstrap "
        f"over tasks).",
        "",
        "PDR = 1 - SR_attacked / SR_clean; ASR = clean successes lost under attack / clean successes; flips = "
        "perturbed turns where the agent chose another action than it would on the clean text; NRP = SR_clean x "
        "(1 - ASR); RSR@K = tasks won under all K sampled perturbations (n/a for K = 1); targeted ASR = "
        "injections whose target the env's state shows reached; validity = perturbed admissible actions the env "
        "still reads as the same command.",
        "",
        "## By family",
        "",
        "| family | PDR | 95% CI | ASR | 95% CI |",
        "|---|---|---|---|---|",
    ]
    for family, row in data["families"].items():
        lines.append(f"| {family} | {_fmt(row['pdr'])} | {_ci(row['pdr_ci95'])} | {_fmt(row['asr'])} | "
                     f"{_ci(row['asr_ci95'])} |")
    lines += ["", "## By family and target", "",
              "| attack | SR | PDR | 95% CI | ASR | 95% CI | NRP | RSR@K | flips | targeted ASR | validity | edit frac. "
              "| queries/turn |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in data["rows"]:
        lines.append(
            f"| {row['attack']} | {_fmt(row['sr'])} | {_fmt(row['pdr'])} | {_ci(row['pdr_ci95'])} | {_fmt(row['asr'])} | "
            f"{_ci(row['asr_ci95'])} | {_fmt(row['nrp'])} | {_fmt(row['rsr_at_k'])} | {_fmt(row['flip_rate'])} | "
            f"{_fmt(row.get('targeted_asr'))} | "
            f"{_fmt(row['validity'])} | {_fmt(row['edit_fraction']['mean'])} | {_fmt(row['queries_per_turn'], 1)} |")
    words = data.get("words")
    lines += ["", "## Which words flip decisions", ""]
    if not words or not words["words"]:
        lines.append("Not measured: the word probes need a scorer of the agent (a react agent in score mode).")
    else:
        lines += [f"{words['probed_turns']} clean turns probed, {words['queries']} agent queries: each probe deletes "
                  "one word of the observation or swaps it for a synonym.", "",
                  "| word | probes | flips | flip rate | mean drop in p(chosen) |", "|---|---|---|---|---|"]
        for w in words["words"][:15]:
            lines.append(f"| `{w['word']}` | {w['probes']} | {w['flips']} | {_fmt(w['flip_rate'])} | "
                         f"{_fmt(w['mean_drop'])} |")
        lines += ["", "| position in observation | probes | flip rate | mean drop |", "|---|---|---|---|"]
        for p in words["positions"]:
            if p["probes"]:
                lines.append(f"| {p['decile'] * 10}-{p['decile'] * 10 + 10}% | {p['probes']} | {_fmt(p['flip_rate'])} | "
                             f"{_fmt(p['mean_drop'])} |")
        lines += ["", "| probe | probes | flip rate | mean drop |", "|---|---|---|---|"]
        for kind, k in words["kinds"].items():
            lines.append(f"| {kind} | {k['probes']} | {_fmt(k['flip_rate'])} | {_fmt(k['mean_drop'])} |")
    lines += ["", "![robustness](robustness.png)", "", "![words](words.png)", "", "## Example transcripts", ""]
    for t in data["transcripts"]:
        lines.append(f"### {t['attack']} — {t['env_id']} seed {t['seed']} ({'won' if t['won'] else 'not won'} "
                     f"in {t['steps']} steps)")
        for h in t["hijacks"][:1]:
            lines.append(f"Injection target ({h['kind']}): `{h['target']}`, reached: {h['achieved']}.")
        for turn in t["turns"]:
            lines += ["", f"Turn {turn['turn']}: edits "
                      + "; ".join(f"{e['operator']} on {e['field']}{'' if e['index'] is None else '[' + str(e['index']) + ']'}"
                                  f" {json.dumps(e['before'])} -> {json.dumps(e['after'])}" for e in turn["edits"][:6]),
                      "", "```", turn["shown"][:600]
                      + (f"\n[instruction] {turn['instruction']}" if any(e["field"] == "instruction" for e in turn["edits"])
                         else "")
                      + (f"\n[admissible] {' | '.join(turn['actions'])}"
                         if any(e["field"] == "admissible_actions" for e in turn["edits"]) else ""), "```",
                      f"Agent: `{turn['action']}` (env command `{turn['command']}`)"
                      + (f"; on the clean text it would choose `{turn['clean_choice']}`"
                         f"{' — flipped' if turn['flipped'] else ''}" if turn["clean_choice"] is not None else "")]
        lines.append("")
    return "\n".join(lines) + "\n"


def _plots(data: Mapping[str, Any], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    names = [r["attack"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows) + 3), 4))
    xs = range(len(rows))
    width = 0.2
    for offset, key, label in ((-1.5 * width, "pdr", "PDR"), (-0.5 * width, "asr", "ASR"),
                               (0.5 * width, "flip_rate", "flip rate"), (1.5 * width, "targeted_asr", "targeted ASR")):
        values = [0.0 if math.isnan(r.get(key, math.nan)) else r[key] for r in rows]
        errors = None
        if all(key + "_ci95" in r for r in rows):
            errors = [[max(0.0, v - (r[key + "_ci95"][0] if not math.isnan(r[key + "_ci95"][0]) else v)) for v, r in
                       zip(values, rows, strict=True)],
                      [max(0.0, (r[key + "_ci95"][1] if not math.isnan(r[key + "_ci95"][1]) else v) - v) for v, r in
                       zip(values, rows, strict=True)]]
        ax.bar([x + offset for x in xs], values, width, yerr=errors, capsize=2, label=label)
    ax.set_xticks(list(xs), names, rotation=40, ha="right", fontsize=8)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("rate")
    ax.set_title(f"{data['agent']}: clean success {data['sr_clean']:.2f}, macro PDR "
                 f"{_fmt(data['macro_pdr'], 2)}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(directory / "robustness.png", dpi=110)
    plt.close(fig)

    words = data.get("words") or {"words": [], "positions": []}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    top = words["words"][:15][::-1]
    if top:
        left.barh([w["word"] for w in top], [w["mean_drop"] for w in top], color="tab:red")
        left.set_xlabel("mean drop in p(chosen action)")
        left.set_title("words that move the decision most")
        deciles = [p for p in words["positions"] if p["probes"]]
        right.plot([p["decile"] * 10 + 5 for p in deciles], [p["flip_rate"] for p in deciles], marker="o")
        right.set_xlabel("position in the observation (%)")
        right.set_ylabel("flip rate")
        right.set_ylim(0, 1)
        right.set_title("where deletions and swaps flip the choice")
    else:
        for ax in (left, right):
            ax.text(0.5, 0.5, "needs a scorer of the agent\n(react, score mode)", ha="center", va="center")
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(directory / "words.png", dpi=110)
    plt.close(fig)


def write_report(data: Mapping[str, Any], directory: str | Path) -> Path:
    """Writes report.md, report.json, robustness.png and words.png into ``directory`` (replacing
    what was there, all at once)."""
    from sparring.fileio import staged_dir

    target = Path(directory)
    with staged_dir(target) as staging:
        (staging / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        (staging / "report.md").write_text(to_markdown(data), encoding="utf-8")
        _plots(data, staging)
    return target


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------
def config_from_args(args: Any, env_kwargs: Mapping[str, Any]) -> ReportConfig:
    """A :class:`ReportConfig` from ``sparring attack``'s arguments (options left unset are None)."""
    targets = tuple(t.strip() for t in args.targets.split(",")) if args.targets else None
    attack = None
    if args.attack:
        attack = AttackConfig.coerce(args.attack, budget=args.budget, schedule=args.schedule, policy=args.policy,
                                     seed=args.attack_seed, targets=targets, hijack=args.hijack,
                                     query_budget=args.query_budget)
    return ReportConfig(
        env_ids=tuple(args.env or ()), split=args.split, episodes=args.episodes, seed_offset=args.seed_offset,
        families=tuple(f.strip() for f in args.families.split(",")) if args.families else FAMILIES,
        targets=targets or FIELDS, attack=attack, budget=args.budget or 2, schedule=args.schedule or "all",
        policy=args.policy or "random", query_budget=args.query_budget or 16, hijack=args.hijack or "action",
        attack_seed=args.attack_seed or 0, num_envs=args.num_envs, env_kwargs=dict(env_kwargs),
        probe_steps=args.probe_steps, probe_words=args.probe_words, transcripts=args.transcripts,
        samples=args.samples)


def summary_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's attacks as table rows (for the command line)."""
    return [{"attack": r["attack"], "sr": r["sr"], "pdr": r["pdr"], "pdr_ci95": r["pdr_ci95"], "asr": r["asr"],
             "flips": r["flip_rate"], "targeted": r.get("targeted_asr", math.nan), "validity": r["validity"],
             "edits": r["edit_fraction"]["mean"], "queries": r["queries_per_turn"]} for r in data["rows"]]


__all__ = ["ReportConfig", "SUITE_TARGETS", "config_from_args", "probe_words", "run_report", "summary_rows",
           "to_markdown", "write_report"]
