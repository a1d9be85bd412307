"""The agents a leaderboard compares: what each one is, how to name one on the command line, what
its weights are (a fingerprint, so cached results never outlive a retrained checkpoint), and how a
worker process builds it.

An agent spec is a kind (``random``, ``oracle``, ``react``, ``react-fewshot``, ``react-memory``,
``react-reflexion``), for the ReAct kinds a model (a zoo name, a sparring checkpoint, a model or
peft adapter directory, a hub id) and the ReAct agent's options (``mode``, ``normalization``,
``temperature``...), plus a kind's own (:data:`KIND_OPTIONS`: a memory agent's trajectory files,
a Reflexion agent's trials). Suites declare them as tables::

    [agents.react-tiny]
    kind = "react"
    model = "tiny"
    mode = "score"
    normalization = "token"

    [agents.memory]
    kind = "react-memory"
    memory = "data/expert.jsonl"      # or a glob, or a list of them (relative to the working directory)
    retriever = "bm25"
    k = 2

    [agents.reflexion]
    kind = "react-reflexion"
    trials = 3                        # success within 3 tries with the env's feedback: shown in results

A memory agent's fingerprint covers its memory files' contents, so a changed memory re-evaluates its
cached cells.

An agent defined outside sparring is a kind written as an import path ``module:factory`` (see
:mod:`sparring.agents.plugins`); the table's other keys are the factory's keyword options, and the
fingerprint covers the module's source, so changed code re-evaluates its cells::

    [agents.mine]
    kind = "mypkg.agents:make"
    greeting = "hello"

and the command line names them as ``NAME`` (an agent of the suite, or a kind with its defaults)
or ``[LABEL=]KIND_OR_NAME,key=value,...`` (``ppo=react,model=runs/ppo/final,mode=score``).

A worker loads each model once (:func:`build_agent` keeps them per process) and makes a fresh agent
for every pass of a cell, seeded by the evaluation seed, so a cell's result depends on nothing
else the worker played before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sparring.agents.plugins import is_plugin, make_plugin_agent, plugin_fingerprint
from sparring.errors import ConfigError, SparringError, UnknownNameError
from sparring.keyvalues import parse_value

#: agent kinds (the names ``sparring.agents.make_agent`` knows)
KINDS = ("random", "oracle", "react", "react-fewshot", "react-memory", "react-reflexion", "openai")
MODEL_KINDS = ("react", "react-fewshot", "react-memory", "react-reflexion")
#: tries at each task a Reflexion agent gets when its spec does not say
DEFAULT_TRIALS = 3
#: ReAct options a spec may set: name -> (check, what it must be)
REACT_OPTIONS: dict[str, tuple[Any, str]] = {
    "mode": (lambda v: v in ("score", "generate"), "'score' or 'generate'"),
    "normalization": (lambda v: v in ("sum", "token", "word"), "'sum', 'token' or 'word'"),
    "temperature": (lambda v: _number(v) and math.isfinite(v) and v >= 0, "a number >= 0 (0 = greedy)"),
    "top_p": (lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]"),
    "window": (lambda v: _integer(v) and v >= 0, "an integer >= 0 (earlier turns in the prompt)"),
    "show_admissible": (lambda v: isinstance(v, bool), "true or false"),
    "max_new_tokens": (lambda v: _integer(v) and v >= 1, "an integer >= 1"),
    "score_chunk": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (candidates per scoring forward)"),
    "prefix_cache": (lambda v: isinstance(v, bool), "true or false (reuse the previous turn's KV cache)"),
    "dtype": (lambda v: v in ("auto", "float32", "bfloat16", "float16"),
              "'auto' (bf16 where native), 'float32', 'bfloat16' or 'float16'"),
}
#: options of one kind on top of the ReAct options: kind -> name -> (check, what it must be)
KIND_OPTIONS: dict[str, dict[str, tuple[Any, str]]] = {
    "react-memory": {
        "memory": (lambda v: _paths(v), "a trajectory file (JSON Lines from `sparring collect`), a glob pattern, or "
                                        "a non-empty list of them"),
        "retriever": (lambda v: v in ("bm25", "embedding"), "'bm25' or 'embedding'"),
        "k": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (examples retrieved per episode)"),
        "max_example_tokens": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (tokens of the examples)"),
    },
    "react-reflexion": {
        "trials": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (tries at each task)"),
        "reflection": (lambda v: v in ("model", "summary"), "'model' or 'summary'"),
        "max_reflections": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (lessons shown)"),
        "reflection_tokens": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (new tokens of a lesson)"),
    },
}
#: options of the ``openai`` kind (a model behind an OpenAI-compatible server); the key itself never goes
#: into a suite or a result file: ``api_key_env`` names the environment variable that holds it
OPENAI_OPTIONS: dict[str, tuple[Any, str]] = {
    "base_url": (lambda v: isinstance(v, str) and v.startswith(("http://", "https://")),
                 "the server's URL, e.g. 'http://localhost:8000/v1'"),
    "api_key_env": (lambda v: isinstance(v, str) and bool(re.fullmatch(r"[A-Za-z_]\w*", v)),
                    "the name of an environment variable holding the API key"),
    "temperature": REACT_OPTIONS["temperature"], "top_p": REACT_OPTIONS["top_p"],
    "window": REACT_OPTIONS["window"], "show_admissible": REACT_OPTIONS["show_admissible"],
    "max_tokens": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (reply length)"),
    "concurrency": (lambda v: _integer(v) and v >= 1, "an integer >= 1 (requests in flight)"),
    "timeout": (lambda v: _number(v) and v > 0, "a number of seconds > 0"),
    "max_retries": (lambda v: _integer(v) and v >= 0, "an integer >= 0"),
}
#: options a kind cannot do without, and what to tell a user who left one out
REQUIRED_OPTIONS: dict[str, dict[str, str]] = {
    "react-memory": {"memory": "trajectory files whose won episodes it retrieves as examples, e.g. memory = "
                               "\"expert.jsonl\" (from `sparring collect --agent oracle --out expert.jsonl`)"},
    "openai": {"base_url": "the URL of an OpenAI-compatible server, e.g. base_url = \"http://localhost:8000/v1\""},
}
#: keys of an agent table besides the ReAct options
SPEC_KEYS = ("kind", "model", "device")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _paths(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def options_of(kind: str) -> dict[str, tuple[Any, str]]:
    """The options an agent of ``kind`` takes (none for the baselines)."""
    if kind == "openai":
        return dict(OPENAI_OPTIONS)
    if kind not in MODEL_KINDS:
        return {}
    return {**REACT_OPTIONS, **KIND_OPTIONS.get(kind, {})}


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """One agent of a leaderboard."""

    name: str  #: the label in tables and plots
    kind: str  #: random | oracle | react | react-fewshot | react-memory | react-reflexion | module:factory
    model: str | None = None  #: ReAct kinds: zoo name, checkpoint or model directory, hub id
    options: tuple[tuple[str, Any], ...] = ()  #: ReAct options (and the kind's own), sorted by name
    device: str | None = None  #: torch device of a model agent (default: cpu)
    fingerprint: str = ""  #: what the weights are; filled in by :func:`with_fingerprint`

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"an agent's name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS and not is_plugin(self.kind):
            raise UnknownNameError("agent kind", self.kind, KINDS,
                                   hint="An agent of your own is an import path 'module:factory'.")
        options = dict(self.options)
        if self.is_plugin:
            for key, value in options.items():
                if isinstance(value, list):
                    options[key] = tuple(value)  # a spec is hashable
            if self.model is not None:
                options["model"] = self.model  # the factory's own option
                object.__setattr__(self, "model", None)
        elif self.kind in MODEL_KINDS or self.kind == "openai":
            if self.model is None and self.kind == "openai":
                raise ConfigError(f"agent {self.name!r} is an openai agent, which needs model: the name its server "
                                  f"serves the model under")
            if self.model is None:
                object.__setattr__(self, "model", "tiny")
            if not isinstance(self.model, str) or not self.model.strip():
                raise ConfigError(f"agent {self.name!r}: model must be a zoo name, a directory or a hub id, "
                                  f"got {self.model!r}")
            known = options_of(self.kind)
            for key, value in options.items():
                if key not in known:
                    raise UnknownNameError(f"option of agent {self.name!r} ({self.kind})", key, [*known, *SPEC_KEYS])
                check, expected = known[key]
                if not check(value):
                    raise ConfigError(f"agent {self.name!r}: {key} must be {expected}, got {value!r}")
                if isinstance(value, list):
                    options[key] = tuple(value)  # a spec is hashable
            for key, what in REQUIRED_OPTIONS.get(self.kind, {}).items():
                if key not in options:
                    raise ConfigError(f"agent {self.name!r} is a {self.kind} agent, which needs {key}: {what}")
        else:
            if self.model is not None or options:
                given = ["model"] * (self.model is not None) + sorted(options)
                raise ConfigError(f"agent {self.name!r} is a {self.kind} agent, which takes no model or options; "
                                  f"got {', '.join(given)} (only the react kinds do: {', '.join(MODEL_KINDS)})")
        if self.device is not None and not self.uses_model:
            raise ConfigError(f"agent {self.name!r} is a {self.kind} agent, which runs on no device here; "
                              f"drop device = {self.device!r}")
        if self.device is not None and (not isinstance(self.device, str) or not self.device):
            raise ConfigError(f"agent {self.name!r}: device must be a torch device name like 'cpu' or 'cuda:0', "
                              f"got {self.device!r}")
        object.__setattr__(self, "options", tuple(sorted(options.items())))

    @property
    def uses_model(self) -> bool:
        return self.kind in MODEL_KINDS

    @property
    def is_plugin(self) -> bool:
        """Whether the agent is defined outside sparring (``kind`` is an import path ``module:factory``)."""
        return is_plugin(self.kind)

    @property
    def trials(self) -> int:
        """Tries the agent gets at each task (1 but for a Reflexion agent): success within K trials,
        with the env's feedback in between, is another protocol than one try."""
        if self.kind != "react-reflexion":
            return 1
        return int(dict(self.options).get("trials", DEFAULT_TRIALS))

    def _protocol(self) -> dict[str, Any]:
        return {"trials": self.trials} if self.trials > 1 else {}

    def identity(self) -> dict[str, Any]:
        """What decides the agent's behaviour (its name does not): part of every cell's cache key."""
        if (self.uses_model or self.is_plugin or self.kind == "openai") and not self.fingerprint:
            raise SparringError(f"agent {self.name!r} has no fingerprint yet; call with_fingerprint first")
        return {"kind": self.kind, "model": self.model, "fingerprint": self.fingerprint or None,
                "options": dict(self.options), "device": self.device, **self._protocol()}

    def declaration(self) -> dict[str, Any]:
        """The spec as declared (no fingerprint: a suite's agents are fingerprinted only when they run)."""
        return {"name": self.name, "kind": self.kind, "model": self.model, "options": dict(self.options),
                "device": self.device, **self._protocol()}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.identity()}


# --------------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------------
def spec_from_table(name: str, table: Mapping[str, Any]) -> AgentSpec:
    """An agent from a suite's ``[agents.NAME]`` table (``kind`` defaults to the name when the name is
    a kind)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"agents.{name} must be a table of settings (kind = ..., model = ...), "
                          f"got {type(table).__name__}")
    data = dict(table)
    kind = data.pop("kind", name if name in KINDS else None)
    if kind is None:
        raise ConfigError(f"agents.{name} needs a kind: one of {', '.join(KINDS)}, or an import path "
                          f"'module:factory' for an agent of your own")
    if not isinstance(kind, str):
        raise ConfigError(f"agents.{name}.kind must be a string, one of {', '.join(KINDS)}; got {kind!r}")
    model, device = data.pop("model", None), data.pop("device", None)
    if is_plugin(kind):
        if device is not None:
            data["device"] = device  # the factory's own option
        return AgentSpec(name=name, kind=kind, model=model, options=tuple(data.items()))
    if kind not in MODEL_KINDS and kind != "openai":
        every = {key for table in (REACT_OPTIONS, *KIND_OPTIONS.values()) for key in table}
        for key in data:
            if key not in every:
                raise UnknownNameError(f"setting of agents.{name}", key, SPEC_KEYS)
    return AgentSpec(name=name, kind=kind, model=model, options=tuple(data.items()), device=device)


def parse_agent(text: str, known: Mapping[str, AgentSpec] | None = None) -> AgentSpec:
    """An agent from a command-line spec: ``NAME``, ``KIND`` or ``[LABEL=]NAME_OR_KIND,key=value,...``.

    ``NAME`` picks an agent of the suite (``known``); options after it override the suite's.
    Values are JSON where they parse as JSON (``temperature=0.7``, ``show_admissible=false``), else
    strings (``model=runs/ppo/final``)."""
    known = dict(known or {})
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"an agent spec must be a non-empty string like 'oracle' or "
                          f"'react,model=tiny,mode=score'; got {text!r}")
    head, *rest = [part.strip() for part in text.split(",")]
    label, sep, base = head.partition("=")
    if not sep:
        label, base = "", head
    elif label in REACT_OPTIONS or label in SPEC_KEYS or any(label in table for table in KIND_OPTIONS.values()):
        raise ConfigError(f"agent spec {text!r} starts with an option; start with the agent kind or the name of a "
                          f"suite agent, e.g. 'react,{head}'")
    options: dict[str, Any] = {}
    for part in rest:
        key, eq, raw = part.partition("=")
        if not eq or not key:
            raise ConfigError(f"agent spec {text!r}: expected key=value after the kind, got {part!r}; e.g. "
                              f"'react,model=tiny,mode=score'")
        options[key.strip()] = parse_value(raw.strip())
    if base in known:
        spec = known[base]
        if not options:
            return dataclasses.replace(spec, name=label) if label else spec
        table = {"kind": spec.kind, **({"model": spec.model} if spec.model is not None else {}),
                 **({"device": spec.device} if spec.device is not None else {}), **dict(spec.options), **options}
        return spec_from_table(label or text, table)
    if base not in KINDS and not is_plugin(base):
        raise UnknownNameError("agent", base, {*known, *KINDS},
                               hint="Name an agent of the suite, a kind with options ('react,model=DIR'), or an "
                                    "agent of your own as an import path ('mypkg.agents:make,key=value').")
    default_label = base if not options else text
    return spec_from_table(label or default_label, {"kind": base, **options})


def select_agents(requested: Iterable[str | AgentSpec] | None, suite_agents: Mapping[str, AgentSpec]) -> list[AgentSpec]:
    """The agents to run: ``requested`` (specs or command-line strings) or, when None, every agent of
    the suite. Names must be unique."""
    if requested is None:
        chosen = list(suite_agents.values())
    else:
        chosen = [r if isinstance(r, AgentSpec) else parse_agent(r, suite_agents) for r in requested]
    if not chosen:
        raise ConfigError("no agents to compare: the suite declares none; pass some, e.g. --agents random oracle")
    seen: set[str] = set()
    for spec in chosen:
        if spec.name in seen:
            raise ConfigError(f"two agents are called {spec.name!r}; give one a label, e.g. 'mine={spec.kind},...'")
        seen.add(spec.name)
    return chosen


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------
def _hash_directory(path: Path) -> str:
    """SHA-256 over every file's relative path and content, in a fixed order. In a sparring
    checkpoint, the base that ``adapter_config.json`` names is left out: it is where the base lies on
    this machine (a cache directory, the checkpoint's own ``base/``), which ``sparring_agent.json``
    names portably; so a copied or moved checkpoint keeps its fingerprint."""
    sha = hashlib.sha256()
    checkpoint = (path / CHECKPOINT_METADATA).is_file()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        sha.update(file.relative_to(path).as_posix().encode() + b"\0")
        if checkpoint and file == path / "adapter_config.json":
            sha.update(_without_base(file))
        else:
            with file.open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    sha.update(block)
        sha.update(b"\0")
    return sha.hexdigest()


def _without_base(adapter_config: Path) -> bytes:
    try:
        config = json.loads(adapter_config.read_text(encoding="utf-8"))
        config.pop("base_model_name_or_path", None)
        return json.dumps(config, sort_keys=True).encode()
    except (OSError, ValueError, AttributeError):
        return adapter_config.read_bytes()


def model_fingerprint(model: str, _depth: int = 0) -> str:
    """What a model string stands for, as a digest: a zoo model's cache manifest (every file's
    SHA-256; building the model if it is not built yet), a directory's files (plus the base model it
    names, for a checkpoint or adapter on a base outside it), or a hub id with the revision in the
    local Hugging Face cache."""
    from sparring.agents.zoo import ZOO, model_path

    if _depth > 4:
        raise ConfigError(f"model {model!r}: its base models refer to each other in a loop")
    if model in ZOO:
        manifest = Path(model_path(model, 0), "manifest.json")
        return "zoo:" + hashlib.sha256(manifest.read_bytes()).hexdigest()
    path = Path(model).expanduser()
    if path.is_dir():
        digest = _hash_directory(path)
        base = _named_base(path)
        if base and not Path(base).expanduser().resolve().is_relative_to(path.resolve()):  # inside: hashed already
            digest = hashlib.sha256(f"{digest}|{model_fingerprint(base, _depth + 1)}".encode()).hexdigest()
        return "dir:" + digest
    if path.exists():
        raise ConfigError(f"model {model!r} is a file; pass a zoo name, a directory saved with save_pretrained or "
                          f"AgentModel.save, or a hub id")
    if _HUB_ID.match(model) and not model.startswith((".", "/", "~")):
        return "hub:" + model + "@" + (_hub_revision(model) or _reachable_hub_model(model))
    raise UnknownNameError("model", model, ZOO, hint="Pass a zoo name, an existing directory (a checkpoint or a "
                                                     "model saved with save_pretrained) or a hub id like org/name.")


#: the metadata file of a sparring checkpoint (``sparring.agents.policy.METADATA``, a module that imports
#: PyTorch, which fingerprinting a directory does not need)
CHECKPOINT_METADATA = "sparring_agent.json"


def _named_base(path: Path) -> str | None:
    """The base model a sparring checkpoint or a peft adapter directory loads from outside itself."""
    for name, key in ((CHECKPOINT_METADATA, "base_model"), ("adapter_config.json", "base_model_name_or_path")):
        file = path / name
        if file.is_file():
            try:
                base = json.loads(file.read_text(encoding="utf-8")).get(key)
            except (OSError, ValueError, AttributeError):
                return None
            return base if isinstance(base, str) and base and base != "base" else None
    return None


def _hub_revision(model: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(model, "config.json")
    if isinstance(found, str):
        parts = Path(found).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1]
    return None


def _reachable_hub_model(model: str) -> str:
    """Checks that a hub id not in the local cache can be fetched (its config only), so a typo or a
    missing network fails before any cell runs rather than in a worker."""
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model)
    except Exception as exc:  # OSError, connection errors, a repo that is not a model
        raise ConfigError(
            f"model {model!r} is neither a zoo name ({', '.join(_zoo())}) nor a directory here, and as a hub id it "
            f"could not be fetched ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check "
            f"the path or the id, or download the model first"
        ) from exc
    return _hub_revision(model) or "latest"


def _zoo() -> tuple[str, ...]:
    from sparring.agents.zoo import ZOO

    return ZOO


def memory_fingerprint(memory: str | list[str] | tuple[str, ...]) -> str:
    """A digest of a memory agent's trajectory files: every file's content, in the order the
    ``memory`` option gives them (a glob's matches sorted). A missing file is an error."""
    from sparring.agents.memory import memory_files

    sha = hashlib.sha256()
    for file in memory_files(list(memory) if isinstance(memory, (list, tuple)) else memory):
        with file.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                sha.update(block)
        sha.update(b"\0")
    return "memory:" + sha.hexdigest()


def with_fingerprint(spec: AgentSpec) -> AgentSpec:
    """The spec with its model's fingerprint (baselines have none: their code is their identity);
    a memory agent's also covers its memory files."""
    if spec.is_plugin:
        try:
            return dataclasses.replace(spec, fingerprint=plugin_fingerprint(spec.kind))
        except SparringError as exc:
            exc.args = (f"agent {spec.name!r}: {exc}",)
            raise
    if spec.kind == "openai":
        # the served model is whatever the server has under that name: its address and name are its identity
        return dataclasses.replace(spec, fingerprint="openai:" + hashlib.sha256(
            f"{dict(spec.options)['base_url'].rstrip('/')}|{spec.model}".encode()).hexdigest())
    if not spec.uses_model:
        return spec
    try:
        fingerprint = model_fingerprint(spec.model)
        memory = dict(spec.options).get("memory")
        if memory is not None:
            fingerprint += "+" + memory_fingerprint(memory)
        return dataclasses.replace(spec, fingerprint=fingerprint)
    except SparringError as exc:
        exc.args = (f"agent {spec.name!r}: {exc}",)
        raise


# --------------------------------------------------------------------------------------------------
# Building agents (in the process that plays them)
# --------------------------------------------------------------------------------------------------
#: models loaded in this process: (model, fingerprint, device) -> AgentModel
_POLICIES: dict[tuple[str, str, str | None, str | None], Any] = {}
#: memories read in this process: (memory option, fingerprint) -> won episodes
_MEMORIES: dict[tuple[str, str], Any] = {}


def build_agent(spec: AgentSpec, seed: int) -> Any:
    """A fresh agent for one pass; a model agent's weights are loaded once per process."""
    from sparring.agents.baselines import OracleAgent, RandomAgent

    if spec.kind == "random":
        return RandomAgent(seed=seed)
    if spec.kind == "oracle":
        return OracleAgent()
    if spec.is_plugin:
        return make_plugin_agent(spec.kind, seed=seed, name=spec.name, **dict(spec.options))
    if spec.kind == "openai":
        from sparring.agents.openai_backend import OpenAIChatAgent

        options = dict(spec.options)
        key_variable = options.pop("api_key_env", None)
        api_key = os.environ.get(key_variable) if key_variable else None
        if key_variable and api_key is None:
            raise ConfigError(f"agent {spec.name!r}: api_key_env names ${key_variable}, which is not set")
        return OpenAIChatAgent(spec.model, api_key=api_key, seed=seed, name=spec.name, **options)
    from sparring.agents.react import ReActAgent
    from sparring.agents.zoo import load_agent_model, resolve_dtype

    model_print = spec.fingerprint.split("+memory:")[0]  # one load of a model whatever memory goes with it
    options = dict(spec.options)
    dtype = options.pop("dtype", None)
    key = (spec.model, model_print, spec.device, dtype)
    if key not in _POLICIES:
        _POLICIES[key] = load_agent_model(spec.model, device=spec.device, seed=0,
                                          dtype=resolve_dtype(dtype, spec.device))
    policy = _POLICIES[key]
    common = {"value_head": policy.value_head, "seed": seed, "name": spec.name}
    if spec.kind == "react-memory":
        from sparring.agents.memory import MemoryAgent, load_memories

        paths = list(options["memory"]) if isinstance(options["memory"], tuple) else options["memory"]
        memory_key = (json.dumps(paths), spec.fingerprint)
        if memory_key not in _MEMORIES:  # read once per process; each agent keeps its own copy
            _MEMORIES[memory_key] = load_memories(paths)
        options["memory"] = _MEMORIES[memory_key]
        return MemoryAgent(policy.model, policy.tokenizer, **common, **options)
    if spec.kind == "react-reflexion":
        from sparring.agents.reflexion import ReflexionAgent

        return ReflexionAgent(policy.model, policy.tokenizer, **common, **{"trials": spec.trials, **options})
    return ReActAgent(policy.model, policy.tokenizer, few_shot=spec.kind == "react-fewshot", **common, **options)


def loaded_models() -> int:
    """How many models this process has loaded (for tests of the once-per-worker promise)."""
    return len(_POLICIES)


def environment_threads(workers: int) -> int:
    """Torch threads per worker: the machine's cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


__all__ = ["DEFAULT_TRIALS", "KINDS", "KIND_OPTIONS", "MODEL_KINDS", "REACT_OPTIONS", "AgentSpec", "build_agent",
           "environment_threads", "loaded_models", "memory_fingerprint", "model_fingerprint", "options_of", "parse_agent",
           "select_agents", "spec_from_table", "with_fingerprint"]
