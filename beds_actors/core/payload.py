"""Wire contract v1: the request envelope and the reply body (see docs/protocol.md)."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
)

from beds_actors.core.errors import BedsError, ErrorCode
from beds_actors.events import ids

PROTOCOL_VERSION = 1
EVENT_ID_PATTERN = rf"^{ids.ROOT_PATTERN}$"  # a client's own event id is a root (no `/`)


class Request(BaseModel):
    """A client's request body; unknown keys are rejected so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: StrictStr = Field(min_length=1, max_length=64)
    op: StrictStr = Field(min_length=1, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    limit: StrictInt | None = Field(default=None, ge=1)
    event_id: StrictStr | None = Field(default=None, pattern=EVENT_ID_PATTERN)
    parent_event_id: StrictStr | None = Field(
        default=None, max_length=ids.MAX_LENGTH, pattern=ids.EVENT_ID.pattern
    )
    v: StrictInt = Field(default=PROTOCOL_VERSION, ge=1, le=1, description="protocol version")


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str


class Reply(BaseModel):
    """The body BEDS publishes to `reply_to`."""

    status: Literal["ok", "error"]
    event_id: str
    parent_event_id: str | None = None
    data: Any = None
    error: ErrorBody | None = None


def decode_request(body: bytes, max_bytes: int) -> Request:
    """Parse and validate a request body or raise `BedsError(malformed_request)`."""
    if len(body) > max_bytes:
        raise BedsError(
            ErrorCode.MALFORMED_REQUEST,
            f"body is {len(body)} bytes; the limit is {max_bytes} (config limits.max_body_bytes)",
        )
    try:
        return Request.model_validate_json(body)
    except ValidationError as exc:
        raise BedsError(ErrorCode.MALFORMED_REQUEST, _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{where}: {msg}")
    return "request body is not a valid BEDS request: " + "; ".join(parts)


def ok_reply(event_id: str, parent_event_id: str | None, data: Any) -> bytes:
    """Encode a success reply."""
    body = {"status": "ok", "event_id": event_id, "parent_event_id": parent_event_id, "data": data}
    return orjson.dumps(body, default=str)


def error_reply(event_id: str, parent_event_id: str | None, code: ErrorCode, message: str) -> bytes:
    """Encode an error reply."""
    body = {
        "status": "error",
        "event_id": event_id,
        "parent_event_id": parent_event_id,
        "error": {"code": code.value, "message": message},
    }
    return orjson.dumps(body)
