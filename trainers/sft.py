"""Supervised fine-tuning on trajectories, with TRL's ``SFTTrainer``.

Each step of each episode is one conversational prompt / completion example: the prompt is the chat
a ReAct policy is given for that turn, the completion the agent's ``Action: ...`` (with a thought
first when the trajectory has one). TRL computes the loss on completion tokens only, so
observations never get loss. LoRA through peft, or full fine-tuning (the default for the ``tiny``
model, which starts from random weights); general instruction data from a local JSON Lines file can
be mixed in. The result is a sparring checkpoint (``output_dir/final``) that ``sparring eval --model
PATH`` loads; Hugging Face checkpoints in ``output_dir/checkpoints`` let ``resume=True`` continue an
interrupted run. Runs unchanged under ``accelerate launch``.
"""

from __future__ import annotations

import json
import logging
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.sft_config import SFTConfig
from sparring.trajectory import Episode, read_episodes, sft_rows

logger = logging.getLogger(__name__)


def general_rows(path: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` prompt / completion rows from a JSON Lines file of chats (the last assistant message
    is the completion), sampled with replacement when the file is short."""
    chats = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            messages = record.get("messages")
            if not messages or messages[-1].get("role") != "assistant":
                raise ConfigError(f"{path}:{number}: expected {{'messages': [..., {{'role': 'assistant', ...}}]}}")
            chats.append({"prompt": messages[:-1], "completion": [messages[-1]]})
    if not chats:
        raise ConfigError(f"{path} holds no chats")
    rng = random.Random(seed)
    return [rng.choice(chats) for _ in range(count)]


def build_dataset(episodes: Sequence[Episode], config: SFTConfig) -> Any:
    from datasets import Dataset

    rows = sft_rows(episodes)
    if not rows:
        raise ConfigError("the trajectory files hold no steps to learn from")
    if config.general_ratio > 0:
        rows += general_rows(config.general_data, int(round(config.general_ratio * len(rows))), config.seed)
    return Dataset.from_list(rows).shuffle(seed=config.seed)


def _trl_config(TRLConfig: Any, config: SFTConfig, out: Path, trainer_device_kwargs: Any,  # noqa: N803
                tracking: dict[str, Any] | None = None) -> Any:
    return TRLConfig(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps
        lr_scheduler_type="cosine",
        max_length=config.max_length,
        truncation_mode="keep_end",
        completion_only_loss=True,  # observations (in the prompt) never get loss
        gradient_checkpointing=config.gradient_checkpointing,  # TRL turns it on unless told
        logging_steps=config.logging_steps,
        # wandb / trackio through Transformers' integrations; TensorBoard through our callback, into output_dir/tensorboard
        **(tracking or {"report_to": []}),
        save_strategy="epoch",
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        **trainer_device_kwargs(config.device, config.bf16),
        dataloader_num_workers=0,
        disable_tqdm=not config.progress,
    )


def train_sft(config: SFTConfig) -> dict[str, Any]:
    """Fine-tunes a policy on trajectories; returns the run's summary (losses, paths)."""
    from transformers import set_seed
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    from sparring.agents.zoo import load_agent_model
    from sparring.trainers.devices import trainer_device_kwargs
    from sparring.trainers.metrics import writes_tensorboard
    from sparring.trainers.run_dir import hf_callbacks, hf_save_final, hf_tracking, hf_train, hf_write_summary

    set_seed(config.seed)
    out = Path(config.output_dir)
    episodes = [e for path in config.data for e in read_episodes(path)]
    dataset = build_dataset(episodes, config)
    policy = load_agent_model(config.model, trainable=True)
    if config.lora:
        if policy.has_adapter:
            policy.freeze_as_base()  # train a new adapter on top of the loaded policy
        policy.add_lora(r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    with warnings.catch_warnings():
        # we keep the end of long prompts (the action is there): TRL deprecates that mode but still has it;
        # and TRL passes transformers its own deprecated gradient_checkpointing name
        warnings.filterwarnings("ignore", message=r".*(keep_end|gradient_checkpointing).*", category=FutureWarning)
        tracking, trackers = hf_tracking(config, out)
        args = _trl_config(TRLConfig, config, out, trainer_device_kwargs, tracking)
    trainer = SFTTrainer(model=policy.model, args=args, train_dataset=dataset, processing_class=policy.tokenizer,
                         callbacks=hf_callbacks(out, writes_tensorboard(config)))
    try:
        result = hf_train(trainer, out, config.resume)
    finally:
        trackers.close()
    policy.model = trainer.model
    final = hf_save_final(trainer, policy, out)
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    summary = {
        "examples": len(dataset), "episodes": len(episodes), "steps": trainer.state.global_step,
        "train_loss": result.training_loss, "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None, "final": str(final), "lora": config.lora,
    }
    return hf_write_summary(trainer, out, summary)
