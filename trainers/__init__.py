"""Trainers: trajectory collection and filtering, a learned reward model, SFT, DPO and ETO rounds.

Each trainer is a config dataclass plus one function (``train_sft(SFTConfig(...))``...), and a
``sparring train <name>`` command built from the same dataclass. Modules import PyTorch, TRL and
datasets only when they run.
"""
