"""NamasteCore: the unified CRUD interface every database adapter implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from beds_actors.registry import Template

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One validated request as it crosses the broker → adapter hop (external field names)."""

    template: str
    op: str
    values: Mapping[str, Any] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 100
    rows: tuple[Mapping[str, Any], ...] = ()  # op "create_many": every row to create


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one Call: data on success, else an error code and message."""

    data: Any = None
    code: str | None = None
    message: str | None = None
    # When the database call ran (µs since the epoch), which DBA object, and how many calls
    # shared it (a multi-key read or a bulk create serves several requests at once).
    started_us: int = 0
    ended_us: int = 0
    db_object: str = ""
    shared: int = 1

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.code is None


class NamasteCore(Protocol):
    """Create/fetch/update/delete a template's records through its DBA-owned objects."""

    async def create(self, tpl: Template, values: Mapping[str, Any]) -> Record:
        """Insert a record (values include the assigned guid) and return it."""
        ...

    async def fetch(self, tpl: Template, query: Mapping[str, Any], limit: int) -> list[Record]:
        """Return the records whose fields equal every query value."""
        ...

    async def update(self, tpl: Template, guid: str, values: Mapping[str, Any]) -> Record:
        """Change the given fields of one record and return it; NotFound when absent."""
        ...

    async def delete(self, tpl: Template, guid: str) -> Record:
        """Remove one record; NotFound when absent."""
        ...
