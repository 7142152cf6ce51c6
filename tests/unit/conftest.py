"""Small fixtures for the unit tests: repo paths, the shipped registry, config/template writers."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from beds_actors.registry import Registry, Template, load_registry

REPO_ROOT = Path(__file__).resolve().parents[2]

WriteConfig = Callable[..., Path]
WriteTemplate = Callable[..., Path]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The shipped templates/ folder, loaded as the IPL does."""
    return load_registry(REPO_ROOT / "templates", stores={"main", "logs"})


@pytest.fixture(scope="session")
def customer(registry: Registry) -> Template:
    tpl = registry.get("customer")
    assert tpl is not None
    return tpl


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    """Write `beds.toml` and optional `env_<name>.toml` files into tmp_path; return the base."""

    def write(base: str, **env_files: str) -> Path:
        base_path = tmp_path / "beds.toml"
        base_path.write_text(textwrap.dedent(base), encoding="utf-8")
        for env, text in env_files.items():
            (tmp_path / f"env_{env}.toml").write_text(textwrap.dedent(text), encoding="utf-8")
        return base_path

    return write


def template_toml(
    *,
    name: str = "widget",
    tla: str = "wdg",
    store: str = "main",
    fetch: str = '{ view = "v_widget" }',
    create: str = '{ procedure = "sp_widget_create", params = ["guid", "label"] }',
    top: str = "",
    fields: str = '[fields.label]\ntype = "string"\nmax_length = 40',
) -> str:
    """A valid REC template; each keyword replaces one part to make it invalid."""
    return (
        f'{top}\nname = "{name}"\ntla = "{tla}"\nstore = "{store}"\n\n'
        f"[objects]\nfetch = {fetch}\ncreate = {create}\n\n{fields}\n"
    )


@pytest.fixture
def write_template(tmp_path: Path) -> WriteTemplate:
    """Write a template file into tmp_path/templates; keywords as for `template_toml`."""
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)

    def write(filename: str = "widget_rec.toml", text: str | None = None, **parts: str) -> Path:
        path = folder / filename
        path.write_text(template_toml(**parts) if text is None else text, encoding="utf-8")
        return path

    return write
