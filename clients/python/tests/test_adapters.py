"""The Hugging Face and PyTorch adapters yield every record of the dataset exactly once."""

from __future__ import annotations

import datasets
import pytest
import torch.utils.data

from activity_vault import Lease, Record
from activity_vault.hf import to_hf_dataset
from activity_vault.torch import VaultIterableDataset
from conftest import Vault, content, texts


def test_the_hf_adapter_streams_the_dataset(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        ds = to_hf_dataset(client, lease.dataset_id)
        assert isinstance(ds, datasets.IterableDataset)
        assert list(ds) == full_stream
        # An IterableDataset is read again from the start on each pass (an epoch).
        assert len(list(ds)) == len(full_stream)


def test_the_hf_adapter_gives_payloads_as_json_with_fixed_features(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        ds = to_hf_dataset(client, lease.dataset_id, payload="json")
        assert ds.features is not None and ds.features["payload"] == datasets.Value("string")
        lengths = [len(batch["payload"]) for batch in ds.batch(batch_size=100)]
    assert sum(lengths) == len(full_stream)


def test_the_hf_adapter_reads_one_shard(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        parts = [list(to_hf_dataset(client, lease.dataset_id, shard=(i, 2))) for i in range(2)]
    assert content(parts[0] + parts[1]) == content(full_stream)
    assert not {r["subject"] for r in parts[0]} & {r["subject"] for r in parts[1]}


def test_hf_shards_split_over_dataloader_workers(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        ds = to_hf_dataset(client, lease.dataset_id, num_shards=4)
        assert ds.num_shards == 4
        got = [example for example in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)]
    assert content(got) == content(full_stream)


def test_the_torch_adapter_gives_each_dataloader_worker_its_own_shard(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        data = VaultIterableDataset(client, lease.dataset_id)
        loader = torch.utils.data.DataLoader(data, batch_size=16, num_workers=2, collate_fn=list)
        got: list[Record] = [record for batch in loader for record in batch]
    assert all(isinstance(r, Record) for r in got)
    assert content([r.to_dict() for r in got]) == content(full_stream)
    assert len(got) == lease.record_count


def test_the_torch_adapter_splits_over_ranks_and_workers(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    got: list[dict[str, object]] = []
    with vault.client() as client:
        for rank in range(2):
            data = VaultIterableDataset(client, lease.dataset_id, rank=rank, world_size=2, transform=Record.to_dict)
            got += list(torch.utils.data.DataLoader(data, batch_size=None, num_workers=2))
    assert content(got) == content(full_stream)


def test_the_torch_adapter_in_the_main_process_reads_the_whole_dataset(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    with vault.client() as client:
        data = VaultIterableDataset(client, lease.dataset_id, transform=lambda r: r.payload["text"])
        assert data.shard() is None
        assert sorted(data) == sorted(texts(full_stream))


def test_the_torch_adapter_refuses_half_a_place(vault: Vault, lease: Lease) -> None:
    with vault.client() as client, pytest.raises(ValueError):
        VaultIterableDataset(client, lease.dataset_id, rank=1)
