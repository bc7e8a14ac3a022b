"""Hugging Face ``datasets`` adapter: a vault dataset as a streaming ``datasets.IterableDataset``.

Needs the ``hf`` extra (``pip install 'activity-vault[hf]'``); ``datasets`` is imported only here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from .client import Shard, VaultClient

try:
    import datasets
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "activity_vault.hf needs Hugging Face datasets: pip install 'activity-vault[hf]'"
    ) from err

if TYPE_CHECKING:
    from datasets import IterableDataset

__all__ = ["to_hf_dataset"]


def to_hf_dataset(
    client: VaultClient,
    dataset_id: str,
    shard: Shard | None = None,
    *,
    num_shards: int = 1,
    payload: Literal["object", "json"] = "object",
) -> IterableDataset:
    """The records of a granted dataset as a streaming ``datasets.IterableDataset``.

    Each example is ``{"cursor", "subject", "captured_at", "kind", "sensitivity", "payload"}``,
    read from the vault as it is iterated (resuming after dropped connections, each record once).

    Args:
        client: the connected client; each iteration (and each DataLoader worker) streams anew.
        dataset_id: the lease's ``dataset_id``.
        shard: ``(index, of)`` to read one of ``of`` disjoint parts, e.g. ``(rank, world_size)``.
        num_shards: split the dataset into this many vault shards that ``datasets`` hands out on
            its own (``DataLoader`` workers, ``split_dataset_by_node``); not with ``shard``.
        payload: ``"object"`` keeps the payload as the vault sent it; ``"json"`` gives it as a JSON
            string and fixes the features, for ``map``/``batch`` over payloads of mixed shapes.

    Example::

        ds = to_hf_dataset(vault, lease.dataset_id, payload="json")
        for example in ds:
            tokens = tokenizer(json.loads(example["payload"])["text"])
    """
    if shard is not None and num_shards != 1:
        raise ValueError("give shard or num_shards, not both")
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or not 1 <= num_shards <= 1024:
        raise ValueError("num_shards must be an int from 1 to 1024")
    if payload not in ("object", "json"):
        raise ValueError('payload must be "object" or "json"')
    # datasets hands out the items of list-valued gen_kwargs as shards: one vault shard each.
    shards: list[Shard | None] = [shard] if num_shards == 1 else [(i, num_shards) for i in range(num_shards)]
    features = None
    if payload == "json":
        features = datasets.Features(
            {
                "cursor": datasets.Value("string"),
                "subject": datasets.Value("string"),
                "captured_at": datasets.Value("string"),
                "kind": datasets.Value("string"),
                "sensitivity": datasets.Value("int32"),
                "payload": datasets.Value("string"),
            }
        )
    result: IterableDataset = datasets.IterableDataset.from_generator(
        _examples,
        features=features,
        gen_kwargs={"client": client, "dataset_id": dataset_id, "shards": shards, "payload": payload},
    )
    return result


def _examples(client: VaultClient, dataset_id: str, shards: list[Shard | None], payload: str) -> Iterator[dict[str, Any]]:
    # A fresh connection pool per iteration: DataLoader workers are forked with the parent's.
    with client.copy() as own:
        for shard in shards:
            for record in own.records(dataset_id, shard=shard):
                example = record.to_dict()
                if payload == "json":
                    example["payload"] = json.dumps(record.payload, separators=(",", ":"), ensure_ascii=False)
                yield example
