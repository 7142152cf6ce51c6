"""REC template registry: load every template at IPL, validate it, serve an immutable snapshot."""

from beds_actors.registry.loader import TemplateError, load_registry
from beds_actors.registry.models import DbObject, Field, FieldType, Registry, Template

__all__ = [
    "DbObject",
    "Field",
    "FieldType",
    "Registry",
    "Template",
    "TemplateError",
    "load_registry",
]
