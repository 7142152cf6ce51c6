"""Read `templates/*.toml` into a `Registry`; every problem names its file and key."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from beds_actors.registry.models import GUID, Template
from beds_actors.registry.relations import Relation, relation_problems
from beds_actors.registry.snapshot import Registry


class TemplateError(Exception):
    """One or more templates are invalid; the message lists each problem with file and key."""


def load_registry(directory: str | Path, stores: Iterable[str] | None = None) -> Registry:
    """Load and validate every `*.toml` template in `directory` (stores: the configured ones)."""
    root = Path(directory)
    if not root.is_dir():
        raise TemplateError(f"templates directory not found: {root} (config key templates_dir)")
    problems: list[str] = []
    templates: dict[str, Template] = {}
    relations: dict[str, Relation] = {}
    known_stores = set(stores) if stores is not None else None
    for path in sorted(root.glob("*.toml")):
        tpl = _load_one(path, problems)
        if isinstance(tpl, Relation):
            if tpl.name in relations:
                problems.append(
                    f"{path}: name = {tpl.name!r} is already used by {relations[tpl.name].source}"
                )
            relations.setdefault(tpl.name, tpl)
            continue
        if tpl is None:
            continue
        if tpl.name in templates:
            problems.append(
                f"{path}: name = {tpl.name!r} is already used by {templates[tpl.name].source}"
            )
            continue
        if known_stores is not None and tpl.store not in known_stores:
            problems.append(
                f"{path}: store = {tpl.store!r} is not a configured store "
                f"(configured: {', '.join(sorted(known_stores)) or 'none'}; see [stores.*])"
            )
            continue
        templates[tpl.name] = tpl
    problems += relation_problems(relations.values(), templates)
    if problems:
        raise TemplateError(
            f"invalid templates ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems)
        )
    return Registry(templates=templates, relations=relations)


def _load_one(path: Path, problems: list[str]) -> Template | Relation | None:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
        return None
    if raw.get("example") is True:
        return None  # the self-documenting example template is documentation, not a domain
    try:
        if raw.get("kind") == "rel":  # a REL template: how two REC templates relate
            return Relation.model_validate({**raw, "source": str(path)})
        return Template.model_validate(_with_defaults(raw, path))
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            msg = msg.removeprefix("Value error, ")  # pydantic's prefix says nothing to a reader
            problems.append(f"{path}: {key}: {msg}")
        return None


def _with_defaults(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """Fill what a template may leave out: field names, TLA-prefixed columns, the guid field."""
    data = dict(raw)
    data["source"] = str(path)
    tla = data.get("tla", "")
    if not isinstance(data.get("fields", {}), dict):
        return data  # validation reports `fields` with this file's name
    fields = {
        name: dict(spec) if isinstance(spec, dict) else spec
        for name, spec in (data.get("fields") or {}).items()
    }
    fields.setdefault(GUID, {"type": "string", "writable": False, "queryable": True})
    for name, spec in fields.items():
        if isinstance(spec, dict):
            spec.setdefault("name", name)
            spec.setdefault("column", f"{tla}_{name}")
            if name == GUID:
                spec.setdefault("queryable", True)
                spec.setdefault("writable", False)
    data["fields"] = {GUID: fields.pop(GUID), **fields}
    return data
