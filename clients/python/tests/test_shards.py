"""Sharded streams: N parts are disjoint (by subject), together exactly the dataset, each resumable on its own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from activity_vault import Lease
from conftest import CuttingProxy, Vault, content, texts


@pytest.mark.parametrize("of", [1, 2, 3, 7])
def test_n_shards_are_disjoint_and_together_exactly_the_dataset(vault: Vault, lease: Lease, full_stream: list[dict[str, object]], of: int) -> None:
    with vault.client() as client:
        parts = [[r.to_dict() for r in client.records(lease.dataset_id, shard=(i, of))] for i in range(of)]
    union = [r for part in parts for r in part]
    assert content(union) == content(full_stream)
    assert len(union) == lease.record_count
    subjects = [{r["subject"] for r in part} for part in parts]
    for i in range(of):
        for j in range(i + 1, of):
            assert not subjects[i] & subjects[j], f"shards {i} and {j} of {of} share a subject"
    if of > 1:
        assert sum(1 for part in parts if part) >= 2, "the subjects spread over more than one shard"


def test_a_shard_cut_again_and_again_resumes_within_its_shard(
    vault: Vault, lease: Lease, proxy: Callable[[int | None], CuttingProxy]
) -> None:
    with vault.client() as client:
        uncut = [[r.to_dict() for r in client.records(lease.dataset_id, shard=(i, 2))] for i in range(2)]
    cutting = proxy(3_001)
    with vault.client(url=cutting.url, retry_delay=0.01) as client:
        cut = [[r.to_dict() for r in client.records(lease.dataset_id, shard=(i, 2))] for i in range(2)]
    assert cutting.cuts >= 4
    assert cut == uncut
    assert sorted(texts(cut[0] + cut[1])) == sorted(vault.seeded_texts)
