"""The shape of a REC template: a domain, its TLA, its store, its DBA objects and its fields."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydField

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
GUID = "guid"

FieldType = Literal["string", "int", "float", "bool", "datetime"]
Op = Literal["create", "fetch", "update", "delete"]
OPS: tuple[Op, ...] = ("create", "fetch", "update", "delete")
# DBA objects a template may name: one per op, plus optional batch forms of an op.
ObjectKey = Literal["create", "fetch", "update", "delete", "create_many", "purge"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ident(value: str, what: str) -> str:
    if not IDENT.match(value):
        raise ValueError(f"{what} {value!r} must be a plain identifier (letters, digits, _)")
    return value


class Field(_Strict):
    """One record field: clients see `name`; only the database layer sees `column`."""

    name: str = ""
    column: str = ""
    type: FieldType = "string"
    required: bool = False
    max_length: int | None = PydField(default=None, ge=1)
    writable: bool = True
    queryable: bool = False
    description: str = ""


class DbObject(_Strict):
    """A DBA-owned object an op calls: a view (fetch only) or a stored procedure."""

    view: str | None = None
    procedure: str | None = None
    params: list[str] = PydField(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> DbObject:
        if (self.view is None) == (self.procedure is None):
            raise ValueError("set exactly one of `view` or `procedure`")
        _check_ident(self.view or self.procedure or "", "object name")
        if self.view is not None and self.params:
            raise ValueError("`params` belongs to procedures; a view is filtered by the query")
        return self

    @property
    def name(self) -> str:
        """The object's name in the database."""
        return self.view or self.procedure or ""


class Template(_Strict):
    """A validated REC template; immutable once loaded."""

    name: str
    kind: Literal["rec"] = "rec"
    tla: str = PydField(pattern=r"^[a-z]{3}$")
    store: str
    description: str = ""
    source: str = ""
    max_fetch: int = PydField(default=100, ge=1)
    # Served only by brokers that name it in their `templates` (e.g. the logger store): a
    # broker serving "every template" never exposes it to clients.
    internal: bool = False
    # MongoDB stores: the DBA-owned collection holding the records (default: `name`).
    collection: str = ""
    objects: dict[ObjectKey, DbObject]
    fields: dict[str, Field]

    @model_validator(mode="before")
    @classmethod
    def _default_collection(cls, data: Any) -> Any:
        """An absent or empty `collection` is the template's name."""
        if (
            isinstance(data, dict)
            and not data.get("collection")
            and isinstance(data.get("name"), str)
        ):
            return {**data, "collection": data["name"]}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        _check_ident(self.name, "template name")
        _check_ident(self.collection, "collection")
        guid = self.fields.get(GUID)
        if guid is not None and (guid.writable or guid.type != "string"):
            raise ValueError(
                "fields.guid: the guid is a BEDS-assigned string; only its `column` may be set"
            )
        for name, fld in self.fields.items():
            _check_ident(name, f"fields.{name}: field name")
            _check_ident(fld.column, f"fields.{name}.column")
            if not fld.column.startswith(f"{self.tla}_"):
                raise ValueError(
                    f"fields.{name}.column = {fld.column!r} must start with the TLA prefix "
                    f"'{self.tla}_'"
                )
            if fld.max_length is not None and fld.type != "string":
                raise ValueError(f"fields.{name}.max_length applies to string fields only")
        many = self.objects.get("create_many")
        if many is not None and (
            many.procedure is None or many.params or "create" not in self.objects
        ):
            raise ValueError(
                "objects.create_many: a procedure without params, beside objects.create; it takes "
                "one JSON array of rows keyed by the create params"
            )
        purge = self.objects.get("purge")
        if purge is not None and (purge.procedure is None or purge.params):
            raise ValueError(
                "objects.purge: a procedure without params; it takes the age in days and "
                "deletes older records, returning how many (retention)"
            )
        for op, obj in self.objects.items():
            if obj.view is not None and op != "fetch":
                raise ValueError(f"objects.{op}: only fetch may use a view; use a procedure")
            for param in obj.params:
                if param not in self.fields:
                    raise ValueError(
                        f"objects.{op}.params: {param!r} is not a field of this template"
                    )
        return self

    @property
    def guid_column(self) -> str:
        """Internal column holding the external key."""
        return self.fields[GUID].column

    def writable_fields(self) -> Iterator[Field]:
        """Fields a client may set on create/update."""
        return (f for f in self.fields.values() if f.writable)
