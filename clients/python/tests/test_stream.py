"""Streaming a granted dataset: complete, resumed after cut connections, every record exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from activity_vault import Lease, Record, Unavailable
from conftest import ENGINEERS, PURPOSE, RECORDS_PER_ENGINEER, CuttingProxy, Vault, texts


def test_a_granted_dataset_streams_every_record_of_its_scope_once(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    assert lease.scope.org_units == ("engineering",)
    assert lease.scope.kinds == ("keystroke",)
    assert lease.record_count == len(ENGINEERS) * RECORDS_PER_ENGINEER
    assert lease.decision_id and lease.policy_revision and lease.expires_at
    assert len(full_stream) == lease.record_count
    assert sorted(texts(full_stream)) == sorted(vault.seeded_texts)
    assert len({r["cursor"] for r in full_stream}) == len(full_stream)
    subjects = {r["subject"] for r in full_stream}
    assert len(subjects) == len(ENGINEERS)
    assert not subjects & set(ENGINEERS), "subjects are pseudonyms, never employee ids"
    assert {r["kind"] for r in full_stream} == {"keystroke"}
    assert all(isinstance(r["sensitivity"], int) and r["sensitivity"] <= lease.scope.max_sensitivity for r in full_stream)


def test_records_are_typed(vault: Vault, lease: Lease) -> None:
    with vault.client() as client:
        first = next(iter(client.records(lease.dataset_id)))
    assert isinstance(first, Record)
    assert isinstance(first.payload, dict) and first.payload["window"] == "editor"
    assert first.captured_at.endswith("Z")


@pytest.mark.parametrize("cut_after", [2_500, 4_099, 9_001])
def test_a_stream_cut_again_and_again_resumes_after_the_last_record_and_delivers_each_once(
    vault: Vault, lease: Lease, full_stream: list[dict[str, object]], proxy: Callable[[int | None], CuttingProxy], cut_after: int
) -> None:
    cutting = proxy(cut_after)
    calls = 0

    def token() -> str:
        nonlocal calls
        calls += 1
        return vault.job_token()

    with vault.client(token, url=cutting.url, retry_delay=0.01) as client:
        got = [r.to_dict() for r in client.records(lease.dataset_id)]
    assert cutting.cuts >= 5, "the proxy cut the stream several times"
    assert got == full_stream, "same records, same order, same cursors: none lost, none repeated"
    assert calls == cutting.connections, "the token callable is asked before every request"


def test_after_resumes_a_later_stream_after_that_cursor(vault: Vault, lease: Lease, full_stream: list[dict[str, object]]) -> None:
    middle = len(full_stream) // 2
    with vault.client() as client:
        rest = [r.to_dict() for r in client.records(lease.dataset_id, after=str(full_stream[middle - 1]["cursor"]))]
    assert rest == full_stream[middle:]


def test_a_stream_that_never_gets_a_record_through_gives_up_after_the_retries(vault: Vault, lease: Lease, proxy: Callable[[int | None], CuttingProxy]) -> None:
    cutting = proxy(40)  # inside the status line: not one record ever arrives
    with vault.client(url=cutting.url, max_retries=3, retry_delay=0.01) as client:
        with pytest.raises(Unavailable) as raised:
            list(client.records(lease.dataset_id))
    assert raised.value.status == 0 and raised.value.code == "unavailable"
    assert cutting.connections == 4, "the first attempt and three retries, no more"


def test_two_leases_of_the_same_records_have_unlinkable_subjects(vault: Vault, lease: Lease) -> None:
    other_job = f"py-other-{uuid.uuid4().hex[:8]}"
    with vault.client(token=vault.job_token(other_job)) as other, vault.client() as mine:
        theirs = other.request_dataset(PURPOSE, ["keystroke"], ["engineering"], *vault.window)
        their_subjects = {r.subject for r in other.records(theirs.dataset_id)}
        my_subjects = {r.subject for r in mine.records(lease.dataset_id)}
    assert their_subjects and my_subjects and not their_subjects & my_subjects

