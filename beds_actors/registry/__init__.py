"""Template registry: load every REC and REL template at IPL, validate, serve a snapshot."""

from beds_actors.registry.loader import TemplateError, load_registry
from beds_actors.registry.models import DbObject, Field, FieldType, Template
from beds_actors.registry.relations import Relation
from beds_actors.registry.snapshot import Registry

__all__ = [
    "DbObject",
    "Field",
    "FieldType",
    "Registry",
    "Relation",
    "Template",
    "TemplateError",
    "load_registry",
]
