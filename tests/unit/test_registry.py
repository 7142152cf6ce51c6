"""Template registry: shipped templates load; every problem names its file and key."""

from __future__ import annotations

import pytest

from beds_actors.registry import TemplateError, load_registry


def load(folder, stores=("main",)):
    return load_registry(folder, stores=set(stores))


def test_shipped_templates_load_and_skip_the_example(registry):
    assert registry.names() == ["customer", "mst_logger", "mst_logger_in", "order", "order_line"]
    assert registry.by_store() == {
        "main": ["customer", "order_line", "order"],
        "logs": ["mst_logger_in", "mst_logger"],
    }
    assert sorted(registry.relations) == ["customer_orders", "order_lines"]


def test_example_template_is_valid_without_its_example_flag(repo_root, tmp_path):
    text = (repo_root / "templates" / "example_rec.toml").read_text(encoding="utf-8")
    stripped = "\n".join(line for line in text.splitlines() if line.strip() != "example = true")
    assert stripped != text
    (tmp_path / "example_rec.toml").write_text(stripped, encoding="utf-8")
    tpl = load(tmp_path).get("example")
    assert tpl is not None
    assert tpl.fields["score"].type == "int"


def test_guid_field_is_implicit_read_only_and_queryable(customer):
    guid = customer.fields["guid"]
    assert next(iter(customer.fields)) == "guid"
    assert (guid.column, guid.type, guid.writable, guid.queryable) == (
        "cst_guid",
        "string",
        False,
        True,
    )


def test_columns_default_to_the_tla_prefix(customer):
    assert customer.fields["email"].column == "cst_email"


def test_declared_guid_may_rename_its_column_and_stays_read_only(write_template, tmp_path):
    write_template(fields='[fields.guid]\ncolumn = "wdg_key"\n\n[fields.label]\ntype = "string"')
    guid = load(tmp_path / "templates").get("widget").fields["guid"]
    assert (guid.column, guid.writable, guid.queryable) == ("wdg_key", False, True)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"tla": "WD1"}, "tla:"),
        ({"fields": '[fields.label]\ncolumn = "label"'}, "fields.label.column = 'label'"),
        ({"create": '{ view = "v_widget" }'}, "objects.create: only fetch may use a view"),
        (
            {"create": '{ procedure = "sp_w", params = ["nope"] }'},
            "objects.create.params: 'nope'",
        ),
        ({"top": 'colour = "red"'}, "colour: unknown key"),
        ({"store": "archive"}, "store = 'archive' is not a configured store"),
        ({"name": "my widget"}, "template name 'my widget'"),
        ({"fetch": '{ view = "v_x; DROP TABLE y" }'}, ("objects.fetch:", "'v_x; DROP TABLE y'")),
        ({"create": '{ procedure = "sp`x`" }'}, ("objects.create:", "'sp`x`' must be")),
        ({"fields": '[fields."a b"]\ntype = "string"'}, "field name 'a b'"),
        ({"fields": '[fields.n]\ntype = "int"\nmax_length = 3'}, "string fields only"),
        ({"fields": "[fields.guid]\nwritable = true"}, "BEDS-assigned string"),
    ],
)
def test_invalid_template_is_reported_with_file_and_key(write_template, tmp_path, parts, expected):
    path = write_template(**parts)
    with pytest.raises(TemplateError) as info:
        load(tmp_path / "templates")
    needles = (expected,) if isinstance(expected, str) else expected
    lines = [line for line in str(info.value).splitlines() if str(path) in line]
    assert any(all(n in line for n in needles) for line in lines), str(info.value)


def test_invalid_toml_names_the_file(write_template, tmp_path):
    path = write_template(text="name = \n")
    with pytest.raises(TemplateError, match="not valid TOML") as info:
        load(tmp_path / "templates")
    assert str(path) in str(info.value)


def test_duplicate_template_name_names_both_files(write_template, tmp_path):
    first = write_template("a_rec.toml")
    second = write_template("b_rec.toml", tla="wdh")
    with pytest.raises(TemplateError) as info:
        load(tmp_path / "templates")
    assert f"{second}: name = 'widget' is already used by {first}" in str(info.value)


def test_problems_of_several_files_come_in_one_error(write_template, tmp_path):
    bad_tla = write_template("a_rec.toml", name="one", tla="A")
    bad_store = write_template("b_rec.toml", name="two", store="nowhere")
    write_template("c_rec.toml", name="three")
    with pytest.raises(TemplateError) as info:
        load(tmp_path / "templates")
    message = str(info.value)
    assert "2 problem(s)" in message
    assert str(bad_tla) in message
    assert str(bad_store) in message


def test_store_check_is_skipped_when_stores_are_not_given(write_template, tmp_path):
    write_template(store="anything")
    assert load_registry(tmp_path / "templates").names() == ["widget"]


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(TemplateError, match="templates directory not found"):
        load(tmp_path / "absent")


def test_fields_that_is_not_a_table_is_a_template_error(write_template, tmp_path):
    path = write_template(text='name = "w"\ntla = "wdg"\nstore = "main"\nfields = 5\n')
    with pytest.raises(TemplateError) as info:
        load(tmp_path / "templates")
    assert str(path) in str(info.value)


def test_guid_must_stay_a_string(write_template, tmp_path):
    write_template(fields='[fields.guid]\ntype = "int"\n\n[fields.label]\ntype = "string"')
    with pytest.raises(TemplateError, match="guid"):
        load(tmp_path / "templates")
