"""Admin commands carry a token; nodes keep only its argon2 hash (`admin.token_hash`)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from beds_actors.config import BedsConfig

_hasher = PasswordHasher()


def hash_token(token: str) -> str:
    """The value to put in `admin.token_hash` for a token (`beds admin hash-token`)."""
    return _hasher.hash(token)


def authorise(cfg: BedsConfig, token: str) -> str | None:
    """None when the token may run admin commands on this node, else why not."""
    if not cfg.admin.token_hash:
        if cfg.env == "dev":
            return None  # a dev box without a token configured stays usable
        return "admin.token_hash is not set on this node: admin commands are refused"
    try:
        _hasher.verify(cfg.admin.token_hash, token)
    except (VerificationError, InvalidHashError):
        return "admin token refused (check BEDS_ADMIN_TOKEN / admin.token)"
    return None
