"""PyTorch adapter: a vault dataset as a ``torch.utils.data.IterableDataset``.

Needs PyTorch (the ``torch`` extra, or a distribution's own build); it is imported only when this
module is. Inside ``DataLoader`` workers, and across DDP ranks, every reader streams a disjoint
shard of the dataset, so one epoch yields each record exactly once in total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, overload

from .client import Record, VaultClient

try:
    import torch.distributed
    import torch.utils.data
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "activity_vault.torch needs PyTorch: pip install 'activity-vault[torch]' (or your platform's torch build)"
    ) from err

__all__ = ["VaultIterableDataset"]

T = TypeVar("T")


class VaultIterableDataset(torch.utils.data.IterableDataset[T]):
    """The records of a granted dataset for a ``DataLoader``, split among its workers and DDP ranks.

    Reader ``rank * num_workers + worker_id`` of ``world_size * num_workers`` streams that shard
    (by subject) of the dataset; a single reader streams the whole dataset. Each epoch, that is
    each ``iter()``, streams again from the start.

    Args:
        client: the connected client; each worker opens connections of its own.
        dataset_id: the lease's ``dataset_id``.
        transform: turns a :class:`~activity_vault.Record` into what the loader yields (tensors,
            token ids, a dict); default: the record itself (use ``collate_fn=list`` or a transform).
        rank, world_size: this process's place in data-parallel training; default: taken from
            ``torch.distributed`` when it is initialised, else 0 and 1.

    Example::

        data = VaultIterableDataset(vault, lease.dataset_id, transform=encode)
        for batch in DataLoader(data, batch_size=64, num_workers=4):
            step(batch)
    """

    @overload
    def __init__(
        self: VaultIterableDataset[Record],
        client: VaultClient,
        dataset_id: str,
        *,
        transform: None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: VaultIterableDataset[T],
        client: VaultClient,
        dataset_id: str,
        *,
        transform: Callable[[Record], T],
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None: ...

    def __init__(
        self,
        client: VaultClient,
        dataset_id: str,
        *,
        transform: Callable[[Record], T] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        super().__init__()
        if (rank is None) != (world_size is None):
            raise ValueError("give rank and world_size together")
        if rank is not None and world_size is not None and not 0 <= rank < world_size:
            raise ValueError("rank must satisfy 0 <= rank < world_size")
        self.client = client
        self.dataset_id = dataset_id
        self.transform = transform
        self.rank = rank
        self.world_size = world_size

    def shard(self) -> tuple[int, int] | None:
        """The ``(index, of)`` this reader streams here (in this worker and rank); None for the whole dataset."""
        rank, world_size = self._place()
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        of = world_size * workers
        return None if of == 1 else (rank * workers + worker, of)

    def __iter__(self) -> Iterator[T]:
        # In a worker the pool inherited from the parent is not ours to use: open our own.
        client = self.client if torch.utils.data.get_worker_info() is None else self.client.copy()
        try:
            for record in client.records(self.dataset_id, shard=self.shard()):
                yield self.transform(record) if self.transform is not None else _as_t(record)
        finally:
            if client is not self.client:
                client.close()

    def _place(self) -> tuple[int, int]:
        if self.rank is not None and self.world_size is not None:
            return self.rank, self.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1


def _as_t(record: Record) -> Any:
    return record
