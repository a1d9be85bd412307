"""The discriminator: a small, fast classifier that tells clean text from perturbed text.

It is the other half of the generator / discriminator pair: the learned adversary
(:mod:`sparring.adversary.learned`) is penalised by the probability the discriminator gives its
perturbed texts, so it is pushed toward perturbations a reader (or a filter in front of the agent)
would not spot. The two are trained in alternation on fresh texts: each adversary update plays a
batch of episodes, and the discriminator then takes a few steps on that batch's clean and perturbed
texts. Its accuracy on each batch *before* it trains on it is an honest held-out figure, reported
over training.

The model is logistic regression over hashed character n-grams (orders ``ngram_min`` ..
``ngram_max``, ``2**hash_bits`` buckets, log-scaled counts, L2-normalised) plus two *novelty*
features: how many of the text's n-gram buckets, and what share of them, never occurred in a clean
text it was trained on. The texts the envs write come from templates, so typos, homoglyphs,
zero-width characters, injected orders and planted sentences all show up as n-grams the clean texts
do not have; the novelty features catch the ones no weight was learnt for (a two-character typo
makes n-grams never seen before, by anyone). A batch's clean texts are added to the seen set only
after the batch's features are computed, so clean texts in training look as novel as fresh clean
texts will (a text is never "familiar" because it is itself). Everything is numpy; the
n-gram hash is a rolling polynomial hash over code points, the same in every process and Python
run (Python's ``hash`` of a string is salted per process). Saved as safetensors + JSON, atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sparring.errors import ConfigError, SparringError
from sparring.fileio import staged_dir

FORMAT = 1
WEIGHTS = "discriminator.safetensors"
META = "discriminator.json"
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminator's features and optimiser."""

    ngram_min: int = 1  #: shortest character n-gram
    ngram_max: int = 4  #: longest character n-gram
    hash_bits: int = 18  #: 2**hash_bits feature buckets
    learning_rate: float = 0.5  #: step size of the (Adagrad) updates
    l2: float = 1e-5  #: L2 penalty on the weights, per step
    seed: int = 0  #: seed of the minibatch order

    def __post_init__(self) -> None:
        for name in ("ngram_min", "ngram_max", "hash_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.ngram_min > self.ngram_max:
            raise ConfigError(f"expected ngram_min <= ngram_max, got {self.ngram_min} > {self.ngram_max}; swap them")
        if self.hash_bits > 24:
            raise ConfigError(f"hash_bits must be at most 24 (16M buckets), got {self.hash_bits}; 14-18 is plenty")
        for name in ("learning_rate", "l2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")


def ngram_features(text: str, config: DiscriminatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """The sparse feature vector of ``text``: bucket indices and their values (log1p counts,
    L2-normalised; an empty text has no features)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    mask = np.uint64((1 << config.hash_bits) - 1)
    pieces = []
    with np.errstate(over="ignore"):  # the hash wraps around modulo 2**64 on purpose
        running = np.zeros(len(codes), dtype=np.uint64)
        for n in range(1, config.ngram_max + 1):
            if n > len(codes):
                break
            # running[i] hashes codes[i : i + n]
            running = running[: len(codes) - n + 1] * _PRIME + codes[n - 1:] + np.uint64(n)
            if n >= config.ngram_min:
                mixed = running * _MIX
                pieces.append((mixed >> np.uint64(64 - config.hash_bits)) & mask)
    if not pieces:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    buckets, counts = np.unique(np.concatenate(pieces).astype(np.int64), return_counts=True)
    values = np.log1p(counts.astype(np.float32))
    values /= np.float32(np.linalg.norm(values))
    return buckets, values


class Discriminator:
    """Logistic regression over hashed character n-grams: P(text was perturbed)."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        self.config = config or DiscriminatorConfig()
        size = 1 << self.config.hash_bits
        self.weights = np.zeros(size, dtype=np.float32)
        self.bias = 0.0
        self.seen = np.zeros(size, dtype=bool)  #: buckets that occurred in a clean training text
        self.novelty_weights = np.zeros(2, dtype=np.float64)
        self._g2 = np.full(size, 1e-8, dtype=np.float32)  # Adagrad accumulators
        self._g2_bias = 1e-8
        self._g2_novelty = np.full(2, 1e-8)
        self.steps = 0
        self._rng = np.random.default_rng(self.config.seed)

    # ----------------------------------------------------------------------------------------------
    def _features(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        if isinstance(texts, str):
            raise ConfigError("expected a sequence of texts, got one string; wrap it in a list")
        return [ngram_features(str(t), self.config) for t in texts]

    def _novelty(self, buckets: np.ndarray) -> np.ndarray:
        unseen = float((~self.seen[buckets]).sum()) if len(buckets) else 0.0
        return np.array([math.log1p(unseen), unseen / len(buckets) if len(buckets) else 0.0])

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """The classifier's log-odds that each text was perturbed."""
        return np.array([float(self.weights[i] @ v) + float(self.novelty_weights @ self._novelty(i)) + self.bias
                         for i, v in self._features(texts)], dtype=np.float64)

    def prob(self, texts: Sequence[str]) -> np.ndarray:
        """P(perturbed) for each text."""
        return 1.0 / (1.0 + np.exp(-self.logits(texts)))

    def accuracy(self, texts: Sequence[str], labels: Sequence[bool]) -> float:
        """Share of texts classified right at the 0.5 threshold (nan for none)."""
        labels = np.asarray(labels, dtype=bool)
        if len(texts) != len(labels):
            raise ConfigError(f"expected one label per text, got {len(labels)} labels for {len(texts)} texts")
        if not len(texts):
            return math.nan
        return float(((self.prob(texts) >= 0.5) == labels).mean())

    def update(self, texts: Sequence[str], labels: Sequence[bool], *, epochs: int = 1, batch_size: int = 32) -> float:
        """``epochs`` passes of minibatch Adagrad on the log-loss; returns the mean loss of the last pass."""
        labels_ = np.asarray(labels, dtype=np.float64)
        if len(texts) != len(labels_):
            raise ConfigError(f"expected one label per text, got {len(labels_)} labels for {len(texts)} texts")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not len(texts):
            return math.nan
        features = self._features(texts)
        novelty = np.stack([self._novelty(i) for i, _ in features])  # before this batch's clean texts are seen
        lr, l2 = self.config.learning_rate, self.config.l2
        loss = 0.0
        for _ in range(epochs):
            order = self._rng.permutation(len(features))
            loss = 0.0
            for at in range(0, len(order), batch_size):
                rows = order[at:at + batch_size]
                idx = np.concatenate([features[r][0] for r in rows])
                val = np.concatenate([features[r][1] for r in rows])
                owner = np.repeat(np.arange(len(rows)), [len(features[r][0]) for r in rows])
                z = np.zeros(len(rows))
                np.add.at(z, owner, self.weights[idx] * val)
                z += novelty[rows] @ self.novelty_weights + self.bias
                p = 1.0 / (1.0 + np.exp(-z))
                y = labels_[rows]
                loss += float(-(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).sum())
                residual = (p - y) / len(rows)
                grad = np.zeros_like(self.weights)
                np.add.at(grad, idx, (residual[owner] * val).astype(np.float32))
                touched = np.unique(idx)
                g = grad[touched] + np.float32(l2) * self.weights[touched]
                self._g2[touched] += g * g
                self.weights[touched] -= np.float32(lr) * g / np.sqrt(self._g2[touched])
                g_novelty = residual @ novelty[rows] + l2 * self.novelty_weights
                self._g2_novelty += g_novelty * g_novelty
                self.novelty_weights -= lr * g_novelty / np.sqrt(self._g2_novelty)
                g_bias = float(residual.sum())
                self._g2_bias += g_bias * g_bias
                self.bias -= lr * g_bias / math.sqrt(self._g2_bias)
                self.steps += 1
            loss /= len(order)
        for (buckets, _), label in zip(features, labels_, strict=True):
            if not label:
                self.seen[buckets] = True
        if not (np.isfinite(self.weights).all() and math.isfinite(self.bias)):
            raise SparringError("the discriminator's weights became non-finite; lower its learning_rate")
        return loss

    # ----------------------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(meta, tensors)``: what :meth:`save` writes (also embedded in the learned adversary's files)."""
        meta = {"format": FORMAT, "config": dataclasses.asdict(self.config), "bias": self.bias,
                "g2_bias": self._g2_bias, "novelty_weights": self.novelty_weights.tolist(),
                "g2_novelty": self._g2_novelty.tolist(), "steps": self.steps}
        return meta, {"weights": self.weights.copy(), "g2": self._g2.copy(), "seen": self.seen.astype(np.uint8)}

    @classmethod
    def from_state(cls, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> Discriminator:
        if meta.get("format") != FORMAT:
            raise SparringError(f"discriminator format {meta.get('format')}; this sparring reads {FORMAT}")
        disc = cls(DiscriminatorConfig(**meta["config"]))
        if tensors["weights"].shape != disc.weights.shape:
            raise SparringError(f"discriminator weights have shape {tensors['weights'].shape}, its config says "
                                f"{disc.weights.shape}; the files do not belong together")
        disc.weights = tensors["weights"].astype(np.float32).copy()
        disc._g2 = tensors["g2"].astype(np.float32).copy()
        disc.seen = tensors["seen"].astype(bool).copy()
        disc.novelty_weights = np.array(meta["novelty_weights"], dtype=np.float64)
        disc._g2_novelty = np.array(meta["g2_novelty"], dtype=np.float64)
        disc.bias, disc._g2_bias, disc.steps = float(meta["bias"]), float(meta["g2_bias"]), int(meta["steps"])
        return disc

    def save(self, directory: str | os.PathLike) -> Path:
        """Writes ``discriminator.json`` + ``discriminator.safetensors`` into ``directory``, atomically."""
        from safetensors.numpy import save_file

        target = Path(directory)
        with staged_dir(target) as staging:
            meta, tensors = self.state()
            save_file(tensors, str(staging / WEIGHTS))
            (staging / META).write_text(json.dumps(meta, indent=2) + "\n")
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Discriminator:
        from safetensors.numpy import load_file

        path = Path(directory)
        if not (path / META).is_file() or not (path / WEIGHTS).is_file():
            raise ConfigError(f"{path} is not a saved discriminator (it needs {META} and {WEIGHTS}); write one "
                              f"with Discriminator.save")
        return cls.from_state(json.loads((path / META).read_text()), load_file(str(path / WEIGHTS)))


__all__ = ["Discriminator", "DiscriminatorConfig", "ngram_features"]
