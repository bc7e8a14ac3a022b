"""A vault that answers 503 on purpose (exports frozen): the stream waits as Retry-After says, then goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import activity_vault.client
from activity_vault import Lease, Unavailable, VaultClient
from conftest import CuttingProxy, Vault


def _program(vault: Vault, action: str, role: str, sub: str) -> httpx.Response:
    token = vault.token(role, sub)
    return httpx.post(f"{vault.url}/v1/program/{action}", json={"reason": "pytest: export freeze", "scope": "exports"}, headers={"authorization": f"Bearer {token}"}, timeout=30)


def _resume(vault: Vault) -> None:
    # Resuming exports takes two people: one asks, another confirms.
    first = _program(vault, "resume", "security-admin", "py-admin-a")
    assert first.status_code in (200, 202), first.text
    second = _program(vault, "resume", "privacy-officer", "py-officer-b")
    assert second.status_code == 200 and second.json()["resumed"] is True, second.text


@pytest.fixture
def frozen(vault: Vault) -> Iterator[Callable[[], None]]:
    """Exports frozen for the test; the yielded function resumes them (once), and so does the teardown."""
    answer = _program(vault, "pause", "security-admin", "py-admin-a")
    assert answer.status_code == 200, answer.text
    state = {"frozen": True}

    def resume() -> None:
        if state["frozen"]:
            state["frozen"] = False
            _resume(vault)

    yield resume
    resume()


class Waits(list[float]):
    """The client's waits between reconnects, recorded instead of slept (Retry-After is 60 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.after_each: Callable[[], None] = lambda: None

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.after_each()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Waits:
    seen = Waits()
    monkeypatch.setattr(activity_vault.client, "_sleep", seen)
    return seen


def test_a_stream_refused_by_an_export_freeze_waits_retry_after_and_resumes_when_it_lifts(
    vault: Vault, lease: Lease, full_stream: list[dict[str, object]], proxy: Callable[[int | None], CuttingProxy], frozen: Callable[[], None], waits: Waits
) -> None:
    counting = proxy(None)
    waits.after_each = lambda: frozen() if len(waits) == 2 else None
    with VaultClient(counting.url, vault.job_token(), max_retry_wait=120) as client:
        got = [r.to_dict() for r in client.records(lease.dataset_id)]
    assert got == full_stream
    assert waits == [60.0, 60.0], "the vault's Retry-After, not the client's backoff"
    assert counting.statuses == [503, 503, 200]


def test_a_freeze_that_outlasts_the_retries_raises_unavailable_with_retry_after(
    vault: Vault, lease: Lease, proxy: Callable[[int | None], CuttingProxy], frozen: Callable[[], None], waits: Waits
) -> None:
    counting = proxy(None)
    with VaultClient(counting.url, vault.job_token(), max_retries=2, max_retry_wait=5) as client:
        with pytest.raises(Unavailable) as raised:
            list(client.records(lease.dataset_id))
    assert raised.value.status == 503 and raised.value.code == "exports_frozen"
    assert raised.value.retry_after == 60
    assert waits == [5, 5], "a Retry-After longer than max_retry_wait is capped"
    assert counting.requests == 3
