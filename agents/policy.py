"""The trainable policy: a causal LM, an optional LoRA adapter, and a value head on the same backbone,
saved and loaded together in safetensors.

A checkpoint directory (format 2) is a Hugging Face model or peft adapter directory with sparring's
files beside::

    sparring_agent.json         what is inside, and the base model (a zoo name, path or hub id)
    adapter_config.json, adapter_model.safetensors
                                the peft LoRA adapter (when the policy is base + adapter), or
    config.json, model.safetensors, generation_config.json
                                the full weights (when the whole model was trained)
    tokenizer.json, tokenizer_config.json, ...
                                the tokenizer, with its chat template
    base/                       the base model's full weights, when it is not a zoo name or hub id
                                (a policy trained further from a checkpoint: SFT, then DPO on top)
    value_head.safetensors      the value head (when there is one; its sizes are in sparring_agent.json)

so plain ``transformers`` and ``peft`` calls load it: ``AutoModelForCausalLM.from_pretrained(ckpt)``,
``AutoTokenizer.from_pretrained(ckpt)``, and for an adapter ``AutoPeftModelForCausalLM.from_pretrained(ckpt)``
or ``PeftModel.from_pretrained(base, ckpt)``. For them ``adapter_config.json`` names its base by
something they can load: a zoo model's cache directory, the absolute path of ``base/``, a local
model's absolute path, or the hub id; ``sparring_agent.json`` keeps the portable name (``tiny``),
from which :meth:`AgentModel.load` rebuilds a zoo base on another machine. After copying or moving a
checkpoint with an embedded base, :func:`relocate` points ``adapter_config.json`` at its new ``base/``.

Format 1 (still read) kept the parts in subfolders: ``adapter/`` or ``model/``, ``tokenizer/``.

It is written into a temporary directory and moved into place in one rename, so an interrupted
save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sparring.errors import SparringError
from sparring.fileio import staged_dir

FORMAT = 2
READS = (1, 2)  #: the formats :meth:`AgentModel.load` reads
METADATA = "sparring_agent.json"
BASE_DIR = "base"  #: the subfolder of an embedded base, and the ``base_model`` that names it
ADAPTER_CONFIG = "adapter_config.json"
VALUE_HEAD = "value_head.safetensors"


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Around peft's model wrapping: peft reads transformers' deprecated ``is_gradient_checkpointing``,
    a FutureWarning on every adapter that is not ours to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


class ValueHead(nn.Module):
    """A small MLP from the hidden state of the prompt's last token to a scalar value."""

    def __init__(self, hidden_size: int, inner_size: int | None = None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.inner_size = inner_size or hidden_size
        self.net = nn.Sequential(nn.Linear(hidden_size, self.inner_size), nn.Tanh(), nn.Linear(self.inner_size, 1))
        nn.init.zeros_(self.net[2].weight)  # start by predicting 0: no bias in the first advantages
        nn.init.zeros_(self.net[2].bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden.to(self.net[0].weight.dtype))


@dataclasses.dataclass
class AgentModel:
    """A policy: the (possibly adapted) model, its tokenizer, and an optional value head."""

    model: Any
    tokenizer: Any
    value_head: ValueHead | None = None
    base_model: str = ""  #: what the model was loaded from (a zoo name, path or hub id)
    #: the base weights go into the checkpoint (``base/``): the base is itself a trained policy
    embed_base: bool = False

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "peft_config")

    def add_value_head(self, inner_size: int | None = None) -> ValueHead:
        config = self.model.config
        hidden = getattr(config, "hidden_size", None) or config.get_text_config().hidden_size
        device = next(self.model.parameters()).device
        self.value_head = ValueHead(hidden, inner_size).to(device)
        return self.value_head

    def freeze_as_base(self) -> None:
        """Makes the current policy the base of the next adapter: merges an adapter into the weights
        (if there is one) and marks the base to be embedded in checkpoints. Training a new adapter on
        top then has this policy as its reference (the adapter disabled)."""
        if self.has_adapter:
            self.model = self.model.merge_and_unload()
        self.embed_base = True

    def add_lora(self, r: int = 8, alpha: int = 16, dropout: float = 0.0, target_modules: Any = "all-linear") -> Any:
        """Wraps the model in a fresh LoRA adapter (peft); the base weights stay frozen."""
        from peft import LoraConfig, get_peft_model

        if self.has_adapter:
            raise SparringError("the model already has an adapter; load the base model to add a new one")
        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                            task_type="CAUSAL_LM")
        with quiet_peft():
            self.model = get_peft_model(self.model, config)
        return self.model

    def save(self, directory: str | os.PathLike, *, location: str | os.PathLike | None = None) -> Path:
        """Writes the checkpoint atomically (see the module docstring). ``location``: where the
        checkpoint will live when ``directory`` is itself staged to be moved there (the path an
        embedded base gets in ``adapter_config.json``); ``directory`` by default."""
        target = Path(directory)
        published = Path(location if location is not None else target).absolute()
        with staged_dir(target) as tmp:
            base_model = self.base_model
            if self.has_adapter:
                self.model.save_pretrained(tmp)
                if self.embed_base:
                    _save_base(self.model, tmp / BASE_DIR)
                    base_model = BASE_DIR
                if base_model:
                    _name_base(tmp, _loadable_base(base_model, published))
            else:
                self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            if self.value_head is not None:
                from safetensors.torch import save_file

                save_file({k: v.detach().cpu().contiguous() for k, v in self.value_head.state_dict().items()},
                          tmp / VALUE_HEAD)
            meta = {
                "format": FORMAT,
                "base_model": base_model,  # portable: a zoo name stays a zoo name
                "adapter": self.has_adapter,
                "value_head": None if self.value_head is None else {
                    "hidden_size": self.value_head.hidden_size, "inner_size": self.value_head.inner_size},
            }
            (tmp / METADATA).write_text(json.dumps(meta, indent=2) + "\n")
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike, *, trainable: bool = False, device: str | None = None,
             dtype: Any = None) -> AgentModel:
        """Loads a checkpoint written by :meth:`save` (format 2, or format 1's subfolders)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from sparring.agents.zoo import _prepare_tokenizer, load_model

        path = Path(directory)
        try:
            meta = json.loads((path / METADATA).read_text())
        except (OSError, ValueError) as exc:
            raise SparringError(f"{path} is not a sparring agent checkpoint ({exc}); it needs {METADATA}") from exc
        if meta.get("format") not in READS:
            raise SparringError(f"{path} has checkpoint format {meta.get('format')}; this sparring reads formats "
                                f"{', '.join(map(str, READS))}: upgrade sparring to load it")
        old = meta["format"] == 1  # the parts in subfolders
        tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer" if old else path)
        embedded = bool(meta["adapter"]) and meta["base_model"] == BASE_DIR
        if meta["adapter"]:
            from peft import PeftModel

            if embedded:
                base = AutoModelForCausalLM.from_pretrained(path / BASE_DIR, dtype=dtype)
            else:
                base, _ = load_model(meta["base_model"], dtype=dtype)
            with quiet_peft():
                model = PeftModel.from_pretrained(base, str(path / "adapter" if old else path), is_trainable=trainable)
            for config in model.peft_config.values():  # the base as loaded here (peft looks at it when saving)
                config.base_model_name_or_path = _loadable_base(meta["base_model"], path.absolute())
        else:
            model = AutoModelForCausalLM.from_pretrained(path / "model" if old else path, dtype=dtype)
        _prepare_tokenizer(tokenizer, model)
        if embedded:
            agent = cls(model, tokenizer, base_model=str(path / BASE_DIR), embed_base=True)
        else:
            # full weights trained from the named base are no longer that base: an adapter added on
            # top of them must embed them (``embed_base``), not name the base
            agent = cls(model, tokenizer, base_model=meta["base_model"], embed_base=not meta["adapter"])
        if meta["value_head"]:
            from safetensors.torch import load_file

            head = ValueHead(meta["value_head"]["hidden_size"], meta["value_head"]["inner_size"])
            head.load_state_dict(load_file(path / VALUE_HEAD))
            agent.value_head = head
        if device:
            agent.model.to(device)
            if agent.value_head is not None:
                agent.value_head.to(device)
        if not trainable:
            agent.model.eval()
        return agent


def _save_base(peft_model: Any, directory: Path) -> None:
    """Saves the frozen base weights under a peft adapter as a plain Hugging Face model."""
    base = peft_model.get_base_model()
    prefix_free = {}
    for name, tensor in base.state_dict().items():
        if "lora_" in name:
            continue
        prefix_free[name.replace(".base_layer", "")] = tensor
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_config(base.config)
    plain.load_state_dict(prefix_free)
    plain.generation_config = base.generation_config
    plain.save_pretrained(directory)


def _loadable_base(base_model: str, location: Path) -> str:
    """What ``adapter_config.json`` names as the base, for plain transformers and peft: the embedded
    ``base/`` where the checkpoint lives, a zoo model's cache directory, a local directory's
    absolute path, else the name itself (a hub id)."""
    from sparring.agents.zoo import ZOO, model_path

    if base_model == BASE_DIR:
        return str(location / BASE_DIR)
    if base_model in ZOO:
        return str(model_path(base_model).absolute())
    if Path(base_model).expanduser().is_dir():
        return str(Path(base_model).expanduser().absolute())
    return base_model


def _name_base(directory: Path, base: str) -> None:
    config_path = directory / ADAPTER_CONFIG
    adapter_config = json.loads(config_path.read_text())
    adapter_config["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(adapter_config, indent=2))


def relocate(directory: str | os.PathLike, location: str | os.PathLike | None = None) -> None:
    """Points the ``adapter_config.json`` of a checkpoint with an embedded base at its ``base/`` in
    ``location`` (default: ``directory``), after the checkpoint was copied or moved there, so that
    plain peft loads it from there. Other checkpoints are left as they are."""
    path = Path(directory)
    meta = json.loads((path / METADATA).read_text())
    if meta.get("format") == FORMAT and meta.get("adapter") and meta.get("base_model") == BASE_DIR:
        _name_base(path, _loadable_base(BASE_DIR, Path(location if location is not None else path).absolute()))


def is_checkpoint(path: str | os.PathLike) -> bool:
    return Path(path, METADATA).is_file()
