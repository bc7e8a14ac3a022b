"""Client for activity-vault: request a scoped dataset lease and stream its records into a training job.

The adapters load their frameworks only when imported: ``activity_vault.hf`` (the ``hf`` extra)
and ``activity_vault.torch`` (the ``torch`` extra).
"""

from .client import Lease, Record, Scope, Shard, TokenSource, VaultClient
from .errors import (
    Forbidden,
    InvalidRequest,
    LeaseEnded,
    NotFound,
    PolicyDenied,
    Unauthenticated,
    Unavailable,
    VaultError,
)

__version__ = "0.1.0"

__all__ = [
    "VaultClient",
    "Lease",
    "Scope",
    "Record",
    "Shard",
    "TokenSource",
    "VaultError",
    "InvalidRequest",
    "Unauthenticated",
    "Forbidden",
    "PolicyDenied",
    "LeaseEnded",
    "NotFound",
    "Unavailable",
]
