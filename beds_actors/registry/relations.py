"""REL templates: how REC templates relate (a customer has orders, an order has lines).

A REL template names a parent and a child REC template, the external fields that join them,
the name a fetch's `include` uses for the related records, and optionally a DBA-owned object
that returns the children of many parents in one call. No SQL: only DBA objects and the
child's own read view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from beds_actors.registry.models import IDENT, DbObject, Template


class Relation(BaseModel):
    """One validated REL template; immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str = Field(pattern="^rel$")
    description: str = ""
    source: str = ""
    parent: str
    child: str
    include: str = Field(description="the key a fetch's `include` names on the parent")
    parent_field: str = "guid"
    child_field: str
    many: bool = True
    by_keys: DbObject | None = Field(
        default=None,
        description="a DBA procedure taking a JSON array of parent keys, returning child rows",
    )

    @model_validator(mode="after")
    def _shape(self) -> Relation:
        for key in ("name", "include", "parent", "child", "parent_field", "child_field"):
            if not IDENT.match(getattr(self, key)):
                raise ValueError(f"{key} = {getattr(self, key)!r}: a plain identifier")
        if self.by_keys is not None and (self.by_keys.procedure is None or self.by_keys.params):
            raise ValueError(
                "by_keys: a procedure without params; it takes one JSON array of parent keys"
            )
        return self


def relation_problems(
    relations: Iterable[Relation], templates: Mapping[str, Template]
) -> list[str]:
    """Every problem of `relations` against the REC templates, each naming file and key."""
    problems: list[str] = []
    includes: dict[tuple[str, str], str] = {}
    edges: dict[str, list[str]] = {}
    for rel in relations:
        where = f"{rel.source or rel.name}"
        parent, child = templates.get(rel.parent), templates.get(rel.child)
        for key, tpl in (("parent", parent), ("child", child)):
            if tpl is None:
                problems.append(
                    f"{where}: {key} = {getattr(rel, key)!r} is not a REC template "
                    f"(known: {', '.join(sorted(templates)) or 'none'})"
                )
        if parent is None or child is None:
            continue
        if rel.parent_field not in parent.fields:
            problems.append(f"{where}: parent_field = {rel.parent_field!r} is not a field of "
                            f"{parent.name!r} ({', '.join(parent.fields)})")  # fmt: skip
        if rel.child_field not in child.fields:
            problems.append(f"{where}: child_field = {rel.child_field!r} is not a field of "
                            f"{child.name!r} ({', '.join(child.fields)})")  # fmt: skip
        elif rel.by_keys is None and not child.fields[rel.child_field].queryable:
            problems.append(
                f"{where}: child_field = {rel.child_field!r} is not queryable in {child.name!r} "
                "and there is no by_keys object: the children could not be read; make the "
                "field queryable (with its index) or name a by_keys procedure"
            )
        if "fetch" not in child.objects:
            problems.append(f"{where}: child {child.name!r} has no fetch object to read from")
        if rel.include in parent.fields:
            problems.append(
                f"{where}: include = {rel.include!r} is already a field of {parent.name!r}"
            )
        seen = includes.setdefault((rel.parent, rel.include), where)
        if seen != where:
            problems.append(f"{where}: include = {rel.include!r} on {rel.parent!r} is also "
                            f"declared by {seen}")  # fmt: skip
        edges.setdefault(rel.parent, []).append(rel.child)
    cycle = _cycle(edges)
    if cycle:
        problems.append(
            "relations form a cycle (" + " → ".join(cycle) + "): an include could nest forever; "
            "remove one REL template of the cycle"
        )
    return problems


def _cycle(edges: Mapping[str, list[str]]) -> list[str]:
    """A cycle of the parent → child graph as a path that ends where it starts, else []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(edges):
        if state.get(start) is None and (found := visit(start)):
            return found
    return []
