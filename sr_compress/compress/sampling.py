"""Reproducible, resumable data order: every sample is a pure function of (seed, iteration, slot).

A checkpoint then needs no data-loader state: resuming at iteration ``k`` rebuilds the loader
starting at ``k`` and yields exactly the batches an uninterrupted run would have seen. It holds
with ``num_workers > 0`` and with several processes too, because the random crop/flip of each
item is seeded from its own key inside ``__getitem__`` instead of from a worker's RNG stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def derive_seed(*keys: int) -> int:
    """A 32-bit seed from integer keys (``SeedSequence`` mixes them well; order matters)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


class _SeededItems(Dataset):
    """Wraps a dataset whose ``__getitem__`` draws from the global RNGs; takes ``(index, seed)``."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        seed_all(seed)
        return self.inner[index]


class IterationBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches for iterations ``start .. total-1`` of process ``rank`` out of ``world``.

    The global batch of iteration ``i`` is the slice ``[i*B*world, (i+1)*B*world)`` of an endless
    stream made of one seeded permutation of the dataset per epoch; process ``rank`` takes its
    ``B`` consecutive items of it. Each item carries a seed derived from its stream position.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, total: int, rank: int = 0,
                 world: int = 1) -> None:
        if n < 1:
            raise ValueError("the training set is empty")
        self.n, self.bs, self.seed = n, batch_size, seed
        self.start, self.total, self.rank, self.world = start, total, rank, world
        self._epoch = -1
        self._perm: np.ndarray | None = None

    def _index(self, pos: int) -> int:
        epoch, off = divmod(pos, self.n)
        if epoch != self._epoch:
            self._perm = np.random.default_rng(derive_seed(self.seed, 0x5EED, epoch)).permutation(self.n)
            self._epoch = epoch
        assert self._perm is not None
        return int(self._perm[off])

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for it in range(self.start, self.total):
            base = (it * self.world + self.rank) * self.bs
            yield [(self._index(p), derive_seed(self.seed, 0xDA7A, p)) for p in range(base, base + self.bs)]


def make_loader(dataset: Dataset, batch_size: int, seed: int, start: int, total: int, rank: int, world: int,
                num_workers: int) -> DataLoader:
    sampler = IterationBatchSampler(len(dataset), batch_size, seed, start, total, rank, world)  # type: ignore[arg-type]
    return DataLoader(
        _SeededItems(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )
