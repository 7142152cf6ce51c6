"""Stable error codes of the wire contract and the one exception type that carries them."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Codes a reply's `error.code` may hold; clients may switch on them (docs/protocol.md)."""

    MALFORMED_REQUEST = "malformed_request"
    UNKNOWN_TEMPLATE = "unknown_template"
    UNKNOWN_OP = "unknown_op"
    OP_NOT_SERVED = "op_not_served"
    VALIDATION_FAILED = "validation_failed"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    BACKEND_UNAVAILABLE = "backend_unavailable"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"


# Codes that describe a passing condition of the backend, not of the request itself.
RETRYABLE: frozenset[ErrorCode] = frozenset({ErrorCode.BACKEND_UNAVAILABLE, ErrorCode.TIMEOUT})


class BedsError(Exception):
    """A failure that becomes an error reply with `code` and a message meant for the caller."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later unchanged."""
        return self.code in RETRYABLE

    def __reduce__(self) -> tuple[type[BedsError], tuple[ErrorCode, str]]:
        return (type(self), (self.code, self.message))
