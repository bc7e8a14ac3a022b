"""The vault's refusals as exceptions, one root and a subclass per family of error codes.

The vault answers every error as ``{"error": CODE, "message": TEXT}``, sometimes with a
``decision_id`` (an audited policy decision), ``reasons`` (why the policy denied) and
``violations``. The same fields are on every exception, so ``except VaultError as err:
err.code`` works for all of them; the subclasses only save callers from matching codes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = [
    "VaultError",
    "InvalidRequest",
    "Unauthenticated",
    "Forbidden",
    "PolicyDenied",
    "LeaseEnded",
    "NotFound",
    "Unavailable",
]


class VaultError(Exception):
    """A refusal by the vault, or a vault that cannot be reached (``code == "unavailable"``, ``status == 0``).

    Attributes:
        status: the HTTP status; 0 when no answer arrived at all.
        code: the vault's error code (``policy_denied``, ``unauthenticated``, ...). A gateway's
            502/503/504 without a vault body is ``unavailable``; any other answer that is not
            the vault's is ``http_error``.
        message: the vault's message (deliberately vague on security decisions).
        reasons: the policy's reasons on a deny, else empty.
        violations: the failed checks of a policy activation, else empty.
        decision_id: the audited decision this refusal belongs to, when there is one.
        retry_after: seconds from ``Retry-After`` (program paused, exports frozen), when sent.
        body: the whole error body as the vault sent it.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        body: Mapping[str, Any] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.body: dict[str, Any] = dict(body or {})
        self.reasons: tuple[str, ...] = _strings(self.body.get("reasons"))
        self.violations: tuple[str, ...] = _strings(self.body.get("violations"))
        decision_id = self.body.get("decision_id")
        self.decision_id: str | None = decision_id if isinstance(decision_id, str) else None
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no answer"
        return f"{self.code}: {self.message} ({where})"

    def __reduce__(self) -> tuple[Any, ...]:
        # DataLoader workers send exceptions to the parent by pickling them.
        return (_rebuild, (type(self), self.status, self.code, self.message, self.body, self.retry_after))


class InvalidRequest(VaultError):
    """400: the body, a parameter or a cursor is malformed (``invalid_request``)."""


class Unauthenticated(VaultError):
    """401: the token is missing, malformed, expired, wrongly signed or for another audience."""


class Forbidden(VaultError):
    """403: the token lacks the route's role, or the dataset belongs to another job (``forbidden``)."""


class PolicyDenied(Forbidden):
    """403: the policy denied the request, or it broke an invariant no policy can switch off.

    ``reasons`` and ``decision_id`` name what the auditors will find in the access log.
    """


class LeaseEnded(VaultError):
    """The dataset's lease ended (410 ``lease_expired``) or was revoked (403 ``lease_revoked``): request a new dataset."""


class NotFound(VaultError):
    """404: no such dataset (or route)."""


class Unavailable(VaultError):
    """The vault cannot serve now: unreachable after the retries, a gateway error, or a 503 it chose.

    Codes: ``unavailable``, ``key_unavailable``, ``policy_unavailable``, ``program_paused``,
    ``exports_frozen``. ``retry_after`` is set when the vault says when to come back.
    """


#: Codes of a policy decision that went against the caller: the deny and the invariants.
POLICY_DENY_CODES = frozenset(
    {
        "policy_denied",
        "subject_incomplete",
        "scope_not_explicit",
        "scope_outside_grant",
        "scope_too_wide",
        "sensitivity_forbidden",
    }
)
_BY_CODE: dict[str, type[VaultError]] = {
    **{code: PolicyDenied for code in POLICY_DENY_CODES},
    "lease_expired": LeaseEnded,
    "lease_revoked": LeaseEnded,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "invalid_request": InvalidRequest,
    "unavailable": Unavailable,
    "key_unavailable": Unavailable,
    "policy_unavailable": Unavailable,
    "program_paused": Unavailable,
    "exports_frozen": Unavailable,
}
_BY_STATUS: dict[int, type[VaultError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    410: LeaseEnded,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}
#: Gateways answer these for a vault that is down or restarting; their bodies are not the vault's.
GATEWAY_UNAVAILABLE = frozenset({502, 503, 504})


def error_for(status: int, code: str, message: str, body: Mapping[str, Any] | None = None, *, retry_after: float | None = None) -> VaultError:
    """The exception of the most specific family for this code (or, for a foreign body, this status)."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or VaultError
    return cls(status, code, message, body, retry_after=retry_after)


def refusal_of(response: httpx.Response) -> VaultError:
    """The refusal in a non-2xx answer whatever its body holds (proxies answer HTML). The body must be read."""
    body = _parse_object(response.content)
    code = body.get("error")
    if not isinstance(code, str):
        code = "unavailable" if response.status_code in GATEWAY_UNAVAILABLE else "http_error"
    message = body.get("message")
    if not isinstance(message, str):
        message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return error_for(response.status_code, code, message, body, retry_after=_retry_after(response))


def unreachable(url: str, cause: BaseException) -> Unavailable:
    """No answer at all: refused connection, unknown host, a stream cut more often than the retries allow."""
    err = Unavailable(0, "unavailable", f"cannot reach the vault at {url} ({type(cause).__name__})")
    err.__cause__ = cause
    return err


def _parse_object(content: bytes) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, when the header says so in seconds; ``nan``, ``inf`` and negatives say nothing."""
    try:
        seconds = float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _rebuild(cls: type[VaultError], status: int, code: str, message: str, body: dict[str, Any], retry_after: float | None) -> VaultError:
    return cls(status, code, message, body, retry_after=retry_after)
