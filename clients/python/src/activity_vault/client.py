"""The vault's HTTP API for training jobs: request a dataset lease, stream its records."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Union
from urllib.parse import quote

import httpx

from .errors import VaultError, refusal_of, unreachable

__all__ = ["VaultClient", "Lease", "Scope", "Record", "Shard", "TokenSource"]

#: A bearer token, or a function returning a fresh one; the function is called before every request.
TokenSource = Union[str, Callable[[], str]]
#: ``(index, of)``: part ``index`` (0-based) of ``of`` disjoint parts of a dataset.
Shard = tuple[int, int]

_USER_AGENT = "activity-vault-python/0.1.0"
# One name for the waits between reconnects, so tests can see them instead of sleeping.
_sleep = time.sleep
_MAX_SHARDS = 1024


@dataclass(frozen=True)
class Scope:
    """What a lease may read: the request intersected with the policy's grant."""

    org_units: tuple[str, ...]
    kinds: tuple[str, ...]
    max_sensitivity: int
    from_: str
    to: str


@dataclass(frozen=True)
class Lease:
    """A granted dataset (``POST /v1/datasets`` answered 201). Stream it with :meth:`VaultClient.records`."""

    dataset_id: str
    scope: Scope
    record_count: int
    expires_at: str
    policy_revision: str
    decision_id: str
    #: How many employees the dataset holds records of, when the vault says.
    employee_count: int | None = None


@dataclass(frozen=True)
class Record:
    """One line of a dataset stream.

    ``subject`` is a pseudonym of the employee, stable within this dataset only. ``cursor`` is
    opaque; pass it as ``after`` to resume after this record (in the same shard). ``captured_at``
    is ISO 8601 in UTC, as the vault sent it.
    """

    cursor: str
    subject: str
    captured_at: str
    kind: str
    sensitivity: int
    payload: Any

    def to_dict(self) -> dict[str, Any]:
        """The record as the vault sent it, for data loaders that take plain dicts."""
        return {
            "cursor": self.cursor,
            "subject": self.subject,
            "captured_at": self.captured_at,
            "kind": self.kind,
            "sensitivity": self.sensitivity,
            "payload": self.payload,
        }


class VaultClient:
    """A training job's connection to the vault.

    Every refusal raises a :class:`~activity_vault.VaultError` subclass carrying the vault's
    ``code``, ``reasons`` and ``decision_id``; a vault that cannot be reached raises
    :class:`~activity_vault.Unavailable`. :meth:`records` resumes after a dropped connection from
    the last record it delivered, so every record arrives exactly once.

    Example::

        with VaultClient("https://vault.internal", token=os.environ["VAULT_TOKEN"]) as vault:
            lease = vault.request_dataset("autocomplete-model", ["keystroke"], ["engineering"],
                                          "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z")
            for record in vault.records(lease.dataset_id):
                train(record.subject, record.payload)

    Args:
        url: the vault's base URL (a path prefix behind a gateway is kept).
        token: a bearer token, or a callable returning one, called before every request (so a
            token that expires during a long stream is refreshed on the next reconnect).
        timeout: seconds for connecting and for each read; a stalled stream counts as dropped.
        max_retries: reconnects after a dropped connection or a 5xx before giving up; the count
            starts again whenever records arrive.
        retry_delay: the first backoff in seconds, doubled on each failure in a row.
        max_retry_wait: the longest single wait, including a ``Retry-After`` the vault sends.
        transport: an httpx transport (tests, proxies, mounted TLS settings).
    """

    def __init__(
        self,
        url: str,
        token: TokenSource,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_retries: int = 5,
        retry_delay: float = 0.2,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError("url must be the vault's base URL")
        if not isinstance(token, str) and not callable(token):
            raise TypeError("token must be a string or a callable returning one")
        if max_retries < 0 or retry_delay < 0 or max_retry_wait < 0:
            raise ValueError("max_retries, retry_delay and max_retry_wait must not be negative")
        self.url = url
        self._token = token
        self._timeout = timeout
        self._max_retries = max_retries
        self._retry_delay = retry_delay
        self._max_retry_wait = max_retry_wait
        self._transport = transport
        self._http = httpx.Client(
            base_url=url,
            timeout=timeout,
            transport=transport,
            headers={"user-agent": _USER_AGENT},
            follow_redirects=False,
        )

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Closes the pooled connections; streams still open end."""
        self._http.close()

    def copy(self) -> VaultClient:
        """A client with the same settings and no open connections, for a worker process or thread."""
        return VaultClient(
            self.url,
            self._token,
            timeout=self._timeout,
            max_retries=self._max_retries,
            retry_delay=self._retry_delay,
            max_retry_wait=self._max_retry_wait,
            transport=self._transport,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Data loaders started with `spawn` pickle the dataset, and with it the client: the settings
        # travel, the connection pool does not (each process opens its own).
        return (_rebuild_client, (self.url, self._token, self._timeout, self._max_retries, self._retry_delay, self._max_retry_wait, self._transport))

    def request_dataset(
        self,
        purpose: str,
        kinds: Sequence[str],
        org_units: Sequence[str],
        from_: str | datetime,
        to: str | datetime,
        max_sensitivity: int | None = None,
    ) -> Lease:
        """``POST /v1/datasets``: asks for the records of ``kinds`` in ``org_units`` captured in [from_, to).

        The vault narrows the request to the team's grant and to its own invariants, and answers
        the lease it froze. A deny raises :class:`~activity_vault.PolicyDenied` with ``reasons``
        and ``decision_id``. Not retried: each request is a decision of its own in the audit log.
        """
        body: dict[str, Any] = {
            "purpose": purpose,
            "kinds": _names("kinds", kinds),
            "org_units": _names("org_units", org_units),
            "from": _timestamp("from_", from_),
            "to": _timestamp("to", to),
        }
        if max_sensitivity is not None:
            if isinstance(max_sensitivity, bool) or not isinstance(max_sensitivity, int):
                raise TypeError("max_sensitivity must be an int")
            body["max_sensitivity"] = max_sensitivity
        try:
            response = self._http.post("/v1/datasets", json=body, headers=self._auth())
        except httpx.TransportError as err:
            raise unreachable(self.url, err) from err
        if response.status_code != 201:
            raise refusal_of(response)
        return _lease_of(_json_object(response, "POST /v1/datasets", self.url))

    def records(self, dataset_id: str, *, after: str | None = None, shard: Shard | None = None) -> Iterator[Record]:
        """``GET /v1/datasets/{id}/records``: the dataset's records in stream order, each exactly once.

        After a dropped connection, a line cut short, a stalled read or a 5xx, it reconnects
        with ``after=`` the cursor of the last record it delivered (waiting as ``Retry-After``
        asks, else backing off), at most ``max_retries`` times in a row. A refusal (4xx) raises at
        once. ``after`` starts after a cursor of an earlier stream of the same dataset and shard.

        ``shard=(index, of)`` streams part ``index`` of ``of`` disjoint parts, split by subject:
        ``of`` readers, one per part, together read the whole dataset exactly once. A cursor
        belongs to its shard.
        """
        if not isinstance(dataset_id, str) or not dataset_id:
            raise TypeError("dataset_id must be a non-empty string")
        if after is not None and not isinstance(after, str):
            raise TypeError("after must be a cursor string")
        part = _shard_params(shard)
        return self._stream(f"/v1/datasets/{quote(dataset_id, safe='')}/records", after, part)

    def _stream(self, path: str, after: str | None, part: dict[str, str]) -> Iterator[Record]:
        cursor = after
        failures = 0
        while True:
            params = dict(part)
            if cursor is not None:
                params["after"] = cursor
            try:
                with self._http.stream("GET", path, params=params, headers=self._auth()) as response:
                    if response.status_code != 200:
                        response.read()
                        refusal = refusal_of(response)
                        if response.status_code < 500 or failures >= self._max_retries:
                            raise refusal
                        failures += 1
                        self._backoff(failures, refusal.retry_after)
                        continue
                    for record in _records_of(response):
                        cursor = record.cursor
                        failures = 0
                        yield record
                    return
            except (httpx.TransportError, _CutShort) as err:
                # The connection dropped, stalled or ended inside a line: what was delivered stays
                # delivered, and the stream goes on after it.
                if failures >= self._max_retries:
                    raise unreachable(self.url, err) from err
                failures += 1
                self._backoff(failures, None)

    def _auth(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        if not isinstance(token, str) or not token:
            raise TypeError("the token callable must return a non-empty string")
        return {"authorization": f"Bearer {token}"}

    def _backoff(self, failures: int, retry_after: float | None) -> None:
        wait = retry_after if retry_after is not None else self._retry_delay * 2 ** (failures - 1)
        _sleep(min(max(wait, 0.0), self._max_retry_wait))


class _CutShort(Exception):
    """The body ended inside a record: the connection was cut without the transport noticing."""


def _records_of(response: httpx.Response) -> Iterator[Record]:
    pending = b""
    for chunk in response.iter_bytes():
        pending += chunk
        start = 0
        while True:
            newline = pending.find(b"\n", start)
            if newline == -1:
                break
            line = pending[start:newline]
            start = newline + 1
            if line.strip():
                yield _record_of(line)
        pending = pending[start:]
    if pending.strip():
        raise _CutShort()


def _record_of(line: bytes) -> Record:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        value = None
    if (
        isinstance(value, dict)
        and isinstance(value.get("cursor"), str)
        and isinstance(value.get("subject"), str)
        and isinstance(value.get("captured_at"), str)
        and isinstance(value.get("kind"), str)
        and isinstance(value.get("sensitivity"), int)
        and "payload" in value
    ):
        return Record(value["cursor"], value["subject"], value["captured_at"], value["kind"], value["sensitivity"], value["payload"])
    # A complete line that is not a record is not a dropped connection: retrying would not help.
    raise VaultError(200, "http_error", "the dataset stream sent a line that is not a record")


def _json_object(response: httpx.Response, what: str, url: str) -> dict[str, Any]:
    try:
        value = response.json()
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise VaultError(response.status_code, "http_error", f"the answer to {what} is not a JSON object: is {url} a vault?")
    return value


def _lease_of(body: Mapping[str, Any]) -> Lease:
    try:
        scope = body["scope"]
        employee_count = body.get("employee_count")
        return Lease(
            dataset_id=_typed(body["dataset_id"], str),
            scope=Scope(
                org_units=tuple(_typed(u, str) for u in scope["org_units"]),
                kinds=tuple(_typed(k, str) for k in scope["kinds"]),
                max_sensitivity=_typed(scope["max_sensitivity"], int),
                from_=_typed(scope["from"], str),
                to=_typed(scope["to"], str),
            ),
            record_count=_typed(body["record_count"], int),
            expires_at=_typed(body["expires_at"], str),
            policy_revision=_typed(body["policy_revision"], str),
            decision_id=_typed(body["decision_id"], str),
            employee_count=employee_count if isinstance(employee_count, int) else None,
        )
    except (KeyError, TypeError) as err:
        raise VaultError(201, "http_error", "the lease the vault answered is not of the expected shape") from err


def _typed(value: Any, kind: type[Any]) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"expected {kind.__name__}")
    return value


def _names(what: str, values: Sequence[str]) -> list[str]:
    # A bare string is a Sequence too; "keystroke" would become nine one-letter kinds.
    if isinstance(values, (str, bytes)) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{what} must be a list of strings")
    return list(values)


def _timestamp(what: str, value: str | datetime) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware: a naive datetime means a different instant on each machine")
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be an ISO 8601 string or a datetime")
    return value


def _shard_params(shard: Shard | None) -> dict[str, str]:
    if shard is None:
        return {}
    if not isinstance(shard, (tuple, list)) or len(shard) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) for n in shard):
        raise TypeError("shard must be a tuple (index, of) of two ints")
    index, of = shard[0], shard[1]
    if not 0 <= index < of <= _MAX_SHARDS:
        raise ValueError(f"shard must satisfy 0 <= index < of <= {_MAX_SHARDS}, got ({index}, {of})")
    return {"shard": str(index), "of": str(of)}


def _rebuild_client(
    url: str,
    token: TokenSource,
    timeout: float | httpx.Timeout,
    max_retries: int,
    retry_delay: float,
    max_retry_wait: float,
    transport: httpx.BaseTransport | None,
) -> VaultClient:
    return VaultClient(url, token, timeout=timeout, max_retries=max_retries, retry_delay=retry_delay, max_retry_wait=max_retry_wait, transport=transport)
