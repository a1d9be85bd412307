"""Train / valid / test / test_unseen: how every family splits its tasks.

* ``train``, ``valid`` and ``test`` draw tasks from the same distribution of *seen* compositions.
  Seed ``s`` of split ``S`` generates from the key ``(family, S, s)``, so the seed streams of two
  splits never meet, and a generated task is kept only if the hash of its spec falls in that
  split's share of hash buckets (12/16 train, 2/16 valid, 2/16 test: training draws most often). Two splits therefore can
  never hold the same task, however small the world.
* ``test_unseen`` draws only tasks that contain at least one *held-out composition* (an object x
  receptacle pair, a mission sequence, a relation chain, a product category... each family says
  which), and no train / valid / test task ever contains one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SPLITS: tuple[str, ...] = ("train", "valid", "test", "test_unseen")
SEEN_SPLITS: tuple[str, ...] = ("train", "valid", "test")

_BUCKETS = 16
_OWNER = ("train",) * 12 + ("valid",) * 2 + ("test",) * 2


def canonical_json(spec: Any) -> str:
    """The one JSON text of a spec (sorted keys, no spaces): equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: Any) -> str:
    """A short stable hash of a task spec (or of its canonical JSON text), the same everywhere."""
    text = spec if isinstance(spec, str) else canonical_json(spec)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def owner_split(spec: Any) -> str:
    """Which of train / valid / test a seen-composition task (or its canonical JSON) belongs to."""
    return _OWNER[int(spec_hash(spec), 16) % _BUCKETS]
