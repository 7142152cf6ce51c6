"""Shared test helpers: the canonical test config fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from beds_actors.config import BedsConfig, load_from

FIXTURES = Path(__file__).parent / "fixtures"
TEST_CONFIG = FIXTURES / "beds_test.toml"


def load_test_config(**env: str) -> BedsConfig:
    """The test config, with optional `BEDS__...` overrides; ignores the caller's environment."""
    return load_from(TEST_CONFIG, env="dev", environ=env)


@pytest.fixture(scope="session")
def test_config() -> BedsConfig:
    """The canonical test configuration (tests/fixtures/beds_test.toml)."""
    return load_test_config()
