"""The text space of every sparring env: any Unicode string up to a length.

Gymnasium's :class:`~gymnasium.spaces.Text` only contains strings drawn from a declared charset
(alphanumerics by default), so a sentence with a space or a full stop is *not* in it, and its
shared-memory transport for async vector envs silently drops every character outside the charset.
Our envs emit arbitrary prose and must accept any string an agent types, so the space we declare
contains every string up to ``max_length`` code points, whatever its characters, and ships its own
shared-memory transport (UTF-8 bytes with a length header) so ``AsyncVectorEnv`` carries the text
intact with or without shared memory.
"""

from __future__ import annotations

import multiprocessing as mp
import string
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Text
from gymnasium.vector.utils import shared_memory as _shm

# Characters that `sample()` draws from: printable ASCII plus a few non-ASCII letters and symbols, so
# sampled actions exercise the envs' handling of other scripts. `contains` does not use this set.
SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " " + "éßøπж中🙂"

#: An action may be any string; this bound only exists because Text needs one.
MAX_ACTION_LENGTH = 2**31 - 1
#: Every observation a sparring env emits is at most this many code points (tests check it).
MAX_OBSERVATION_LENGTH = 16_384


class UnicodeText(Text):
    """Any ``str`` of ``min_length`` to ``max_length`` code points, with no restriction on characters.

    ``sample()`` draws strings of at most ``sample_max_length`` characters from :data:`SAMPLE_CHARSET`
    (a space with ``max_length`` of two billion should not sample gigabyte strings).
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        sample_max_length: int = 64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)
        self.sample_max_length = int(min(max(sample_max_length, min_length), max_length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is None and probability is None:
            length = int(self.np_random.integers(self.min_length, self.sample_max_length + 1))
            mask = (length, None)
        return super().sample(mask=mask, probability=probability)

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))


# --- shared-memory transport for AsyncVectorEnv(shared_memory=True) --------------------------------
# Layout per env: a 4-byte little-endian length, then up to 4 * max_length bytes of UTF-8.

def _slot_size(space: UnicodeText) -> int:
    return 4 + 4 * space.max_length


@_shm.create_shared_memory.register(UnicodeText)
def _create(space: UnicodeText, n: int = 1, ctx: ModuleType = mp) -> Any:
    if space.max_length > MAX_OBSERVATION_LENGTH:
        raise ValueError(
            f"shared memory for a UnicodeText needs a bounded max_length (at most "
            f"{MAX_OBSERVATION_LENGTH}), got {space.max_length}; pass shared_memory=False"
        )
    return ctx.Array("B", n * _slot_size(space))


class SharedTexts(Sequence):
    """A live view of the texts in a shared-memory buffer, decoded when read.

    ``AsyncVectorEnv`` reads its shared buffer once, at construction, and expects a *view* that later
    writes show through (true of numpy arrays, impossible for a tuple of immutable strings — the
    reason Gymnasium's own Text transport returns blank strings). This view decodes on access, and
    ``deepcopy`` (which the vector env applies before returning observations) yields a plain tuple.
    """

    def __init__(self, space: UnicodeText, shared_memory: Any, n: int) -> None:
        self._space, self._memory, self._n = space, shared_memory, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self._read(i) for i in range(*index.indices(self._n)))
        if not -self._n <= index < self._n:
            raise IndexError(index)
        return self._read(index % self._n)

    def _read(self, i: int) -> str:
        buffer = memoryview(self._memory.get_obj()).cast("B")
        start = i * _slot_size(self._space)
        length = int.from_bytes(buffer[start : start + 4], "little")
        return bytes(buffer[start + 4 : start + 4 + length]).decode("utf-8")

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: Any) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) else other)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@_shm.read_from_shared_memory.register(UnicodeText)
def _read(space: UnicodeText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)


@_shm.write_to_shared_memory.register(UnicodeText)
def _write(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    data = value.encode("utf-8")
    size = _slot_size(space)
    if len(data) > size - 4:
        raise ValueError(f"text of {len(value)} characters does not fit {space!r}")
    buffer = memoryview(shared_memory.get_obj()).cast("B")
    start = index * size
    buffer[start : start + 4] = len(data).to_bytes(4, "little")
    buffer[start + 4 : start + 4 + len(data)] = data
