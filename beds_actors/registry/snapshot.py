"""The registry: an immutable snapshot of every REC and REL template, made once at IPL."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from beds_actors.registry.models import Template
from beds_actors.registry.relations import Relation


class Registry(BaseModel):
    """Templates by name; relations by name, and by (parent, include) for fetches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: dict[str, Template]
    relations: dict[str, Relation] = Field(default_factory=dict)

    def get(self, name: str) -> Template | None:
        """The template called `name`, or None."""
        return self.templates.get(name)

    def names(self) -> list[str]:
        """Sorted template names."""
        return sorted(self.templates)

    def by_store(self) -> Mapping[str, list[str]]:
        """Template names grouped by the store they live in."""
        out: dict[str, list[str]] = {}
        for tpl in self.templates.values():
            out.setdefault(tpl.store, []).append(tpl.name)
        return out

    def include(self, parent: str, name: str) -> Relation | None:
        """The relation a fetch of `parent` names as `include` `name`, or None."""
        for rel in self.relations.values():
            if rel.parent == parent and rel.include == name:
                return rel
        return None

    def includes(self, parent: str) -> list[str]:
        """The include names a fetch of `parent` may use, sorted."""
        return sorted(r.include for r in self.relations.values() if r.parent == parent)
