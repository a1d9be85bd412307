"""Direct preference optimisation on trajectory pairs, with TRL's ``DPOTrainer``.

Pairs come from :func:`sparring.trainers.filters.preference_pairs` (``sparring filter --pairs``):
conversational ``{"prompt", "chosen", "rejected"}`` rows — at the first turn where an expert and a
failed episode of the same task diverge (``step`` pairs), or whole continuations (``trajectory``
pairs, as ETO does; TRL then also scores the observation turns inside them, which ETO masks).

The policy always trains a fresh LoRA adapter on top of the starting checkpoint (an adapter already
in it is merged first), so the reference policy is the starting policy itself: the same model with
the new adapter bypassed, with no second copy in memory. The result is a sparring checkpoint in
``output_dir/final``. Runs unchanged under ``accelerate launch``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sparring.errors import ConfigError
from sparring.trainers.dpo_config import DPOConfig


def read_pairs(paths: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not {"prompt", "chosen", "rejected"} <= set(row):
                    raise ConfigError(f"{path}:{number}: a pair needs prompt, chosen and rejected")
                rows.append({"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]})
    return rows


def train_dpo(config: DPOConfig, rows: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Trains on the pairs in ``config.pairs`` (or ``rows``); returns the run's summary, including the
    chosen-vs-rejected reward margin at the start and at the end."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig as TRLConfig
    from trl import DPOTrainer

    from sparring.agents.zoo import load_agent_model
    from sparring.trainers.devices import trainer_device_kwargs
    from sparring.trainers.metrics import writes_tensorboard
    from sparring.trainers.run_dir import hf_callbacks, hf_save_final, hf_tracking, hf_train, hf_write_summary

    set_seed(config.seed)
    out = Path(config.output_dir)
    rows = list(rows) if rows is not None else read_pairs(config.pairs)
    if not rows:
        raise ConfigError("no preference pairs to train on; did exploration find any failures to pair?")
    dataset = Dataset.from_list(rows).shuffle(seed=config.seed)
    policy = load_agent_model(config.model, trainable=True)
    policy.freeze_as_base()  # the starting policy is the reference: the new adapter disabled
    policy.add_lora(r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    tracking, trackers = hf_tracking(config, out)  # wandb / trackio through Transformers' integrations
    args = TRLConfig(
        output_dir=str(out / "checkpoints"),
        beta=config.beta,
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        max_length=config.max_length,
        gradient_checkpointing=config.gradient_checkpointing,  # TRL turns it on unless told
        logging_steps=config.logging_steps,
        **tracking,
        save_strategy="epoch",
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        dataloader_num_workers=0,
        disable_tqdm=not config.progress,
        **trainer_device_kwargs(config.device, config.bf16),
    )
    trainer = DPOTrainer(model=policy.model, args=args, train_dataset=dataset, processing_class=policy.tokenizer,
                         callbacks=hf_callbacks(out, writes_tensorboard(config)))
    try:
        result = hf_train(trainer, out, config.resume)
    finally:
        trackers.close()
    model = trainer.model
    if "ref" in getattr(model, "peft_config", {}):
        model.delete_adapter("ref")  # TRL's frozen copy of the starting adapter: not part of the policy
    policy.model = model
    final = hf_save_final(trainer, policy, out)
    margins = [r["rewards/margins"] for r in trainer.state.log_history if "rewards/margins" in r]
    summary = {
        "pairs": len(rows), "steps": trainer.state.global_step, "train_loss": result.training_loss,
        "first_margin": margins[0] if margins else None, "last_margin": margins[-1] if margins else None,
        "final": str(final),
    }
    return hf_write_summary(trainer, out, summary)
