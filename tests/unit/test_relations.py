"""REL templates: relations between REC templates, validated at IPL with file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from beds_actors.registry import Registry, TemplateError, load_registry

from .conftest import REPO_ROOT


def test_the_shipped_relations_join_customer_orders_and_lines(registry: Registry) -> None:
    orders = registry.include("customer", "orders")
    lines = registry.include("order", "lines")
    assert orders is not None and (orders.child, orders.child_field) == ("order", "customer")
    assert lines is not None and (lines.child, lines.child_field) == ("order_line", "order")
    assert orders.by_keys is not None and orders.by_keys.procedure == "sp_order_by_customers"
    assert registry.includes("customer") == ["orders"]
    assert registry.include("customer", "nope") is None


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped templates to break on purpose."""
    target = tmp_path / "templates"
    shutil.copytree(REPO_ROOT / "templates", target)
    return target


def problems(folder: Path) -> str:
    with pytest.raises(TemplateError) as raised:
        load_registry(folder, stores={"main", "logs"})
    return str(raised.value)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


REL = """
name = "{name}"
kind = "rel"
parent = "{parent}"
child = "{child}"
include = "{include}"
child_field = "{child_field}"
{extra}
"""


def rel(**parts: str) -> str:
    base = {"name": "x", "parent": "customer", "child": "order", "include": "more",
            "child_field": "customer", "extra": ""}  # fmt: skip
    return REL.format(**{**base, **parts})


def test_an_unknown_template_or_field_names_the_file_and_key(folder: Path) -> None:
    path = write(folder, "bad_rel.toml", rel(child="invoice", name="bad"))
    assert f"{path}: child = 'invoice' is not a REC template" in problems(folder)
    path.write_text(rel(child_field="buyer", name="bad"), encoding="utf-8")
    assert f"{path}: child_field = 'buyer' is not a field of 'order'" in problems(folder)
    path.write_text(rel(name="bad", extra='parent_field = "nope"'), encoding="utf-8")
    assert f"{path}: parent_field = 'nope' is not a field of 'customer'" in problems(folder)


def test_a_child_that_cannot_be_read_is_refused(folder: Path) -> None:
    # order_line.price is not queryable and there is no by_keys procedure
    path = write(folder, "bad_rel.toml", rel(child="order_line", child_field="price", name="b"))
    assert f"{path}: child_field = 'price' is not queryable in 'order_line'" in problems(folder)


def test_a_cycle_is_refused_naming_it(folder: Path) -> None:
    back = rel(parent="order_line", child="order", name="up", child_field="guid", include="of")
    write(folder, "lines_up_rel.toml", back)
    text = problems(folder)
    assert "relations form a cycle (" in text
    assert "relations form a cycle (order → order_line → order)" in text


def test_a_duplicate_include_and_a_bad_by_keys_are_refused(folder: Path) -> None:
    path = write(folder, "dup_rel.toml", rel(include="orders", name="dup"))
    assert f"{path}: include = 'orders' on 'customer' is also declared by" in problems(folder)
    path.write_text(rel(name="dup", extra='by_keys = { view = "v_x" }'), encoding="utf-8")
    assert f"{path}: (top level): by_keys: a procedure without params" in (problems(folder))
