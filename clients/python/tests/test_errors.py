"""Refusals arrive as typed exceptions with the vault's code, reasons and decision id, and are never retried."""

from __future__ import annotations

import pickle
import socket
import uuid
from collections.abc import Callable

import pytest

from activity_vault import Forbidden, InvalidRequest, Lease, NotFound, PolicyDenied, Unauthenticated, Unavailable, VaultClient, VaultError
from activity_vault.errors import POLICY_DENY_CODES
from conftest import PURPOSE, CuttingProxy, Vault


def test_a_denied_request_raises_policy_denied_with_the_audited_decision(vault: Vault) -> None:
    with vault.client() as client, pytest.raises(PolicyDenied) as raised:
        # team-autocomplete's grant covers engineering, not design.
        client.request_dataset(PURPOSE, ["keystroke"], ["design"], *vault.window)
    err = raised.value
    assert err.status == 403
    assert err.code in POLICY_DENY_CODES
    assert err.decision_id and len(err.decision_id) >= 8
    assert err.reasons, "the policy's reasons reach the caller"
    assert err.body["decision_id"] == err.decision_id
    assert isinstance(err, Forbidden) and isinstance(err, VaultError)


def test_a_request_beyond_the_blast_radius_is_denied_by_the_vault_whatever_the_policy(vault: Vault) -> None:
    with vault.client(token=vault.token("training-job", "py-wide", team="team-ux-agents", purpose="ui-navigation-agent")) as client:
        with pytest.raises(PolicyDenied) as raised:
            # design and support hold 20 of 48 enrolled employees: over the 0.2 ceiling.
            client.request_dataset("ui-navigation-agent", ["click"], ["design", "support"], *vault.window)
    assert raised.value.decision_id
    assert raised.value.code in POLICY_DENY_CODES


def test_a_bad_token_raises_unauthenticated(vault: Vault, lease: Lease) -> None:
    with vault.client(token="not-a-jwt") as client:
        with pytest.raises(Unauthenticated) as raised:
            client.request_dataset(PURPOSE, ["keystroke"], ["engineering"], *vault.window)
        assert raised.value.status == 401 and raised.value.code == "unauthenticated"
        with pytest.raises(Unauthenticated):
            list(client.records(lease.dataset_id))


def test_a_token_without_the_role_raises_forbidden_not_policy_denied(vault: Vault) -> None:
    with vault.client(token=vault.token("auditor")) as client, pytest.raises(Forbidden) as raised:
        client.request_dataset(PURPOSE, ["keystroke"], ["engineering"], *vault.window)
    assert type(raised.value) is Forbidden
    assert raised.value.status == 403 and raised.value.code == "forbidden"


def test_another_jobs_dataset_is_forbidden(vault: Vault, lease: Lease) -> None:
    with vault.client(token=vault.job_token("py-someone-else")) as client, pytest.raises(Forbidden) as raised:
        list(client.records(lease.dataset_id))
    assert raised.value.code == "forbidden"


def test_an_unknown_dataset_raises_not_found(vault: Vault) -> None:
    with vault.client() as client, pytest.raises(NotFound) as raised:
        list(client.records(str(uuid.uuid4())))
    assert raised.value.status == 404 and raised.value.code == "not_found"


def test_a_cursor_of_another_shard_is_refused_once_and_not_retried(vault: Vault, lease: Lease, proxy: Callable[[int | None], CuttingProxy]) -> None:
    counting = proxy(None)
    with vault.client(url=counting.url) as client:
        cursor = next(iter(client.records(lease.dataset_id, shard=(0, 2)))).cursor
        before = counting.requests
        with pytest.raises(InvalidRequest) as raised:
            list(client.records(lease.dataset_id, after=cursor, shard=(1, 2)))
    assert raised.value.status == 400 and raised.value.code == "invalid_request"
    assert counting.requests - before == 1, "a refusal is final: no retry"
    assert counting.statuses[-1] == 400


def test_refusals_survive_pickling_as_dataloader_workers_send_them(vault: Vault) -> None:
    with vault.client() as client, pytest.raises(PolicyDenied) as raised:
        client.request_dataset(PURPOSE, ["keystroke"], ["design"], *vault.window)
    copy = pickle.loads(pickle.dumps(raised.value))
    assert type(copy) is PolicyDenied
    assert (copy.code, copy.decision_id, copy.reasons) == (raised.value.code, raised.value.decision_id, raised.value.reasons)


def test_a_vault_that_does_not_answer_raises_unavailable(vault: Vault) -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with VaultClient(f"http://127.0.0.1:{port}", "t", max_retries=1, retry_delay=0.01) as client:
        with pytest.raises(Unavailable) as raised:
            client.request_dataset(PURPOSE, ["keystroke"], ["engineering"], *vault.window)
        assert raised.value.status == 0 and raised.value.code == "unavailable"
        with pytest.raises(Unavailable):
            list(client.records(str(uuid.uuid4())))


def test_misuse_is_a_type_or_value_error_before_any_request(vault: Vault, lease: Lease) -> None:
    with vault.client() as client:
        with pytest.raises(TypeError):
            client.request_dataset(PURPOSE, "keystroke", ["engineering"], *vault.window)
        with pytest.raises(ValueError):
            list(client.records(lease.dataset_id, shard=(2, 2)))
        with pytest.raises(TypeError):
            list(client.records(lease.dataset_id, shard=(0,)))  # type: ignore[arg-type]


@pytest.mark.parametrize("header", ["nan", "inf", "-inf", "-5", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_a_retry_after_that_is_not_a_number_of_seconds_is_ignored_not_slept_on(header: str) -> None:
    import httpx

    from activity_vault.errors import refusal_of

    response = httpx.Response(503, headers={"retry-after": header}, json={"error": "unavailable", "message": "try later"})
    refusal = refusal_of(response)
    assert isinstance(refusal, Unavailable)
    assert refusal.retry_after is None, "the client falls back to its own backoff"
