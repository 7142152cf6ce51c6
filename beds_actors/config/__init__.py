"""Layered, validated config: `config/beds.toml` + `config/env_${BEDS_ENV}.toml` + env vars."""

from beds_actors.config.loader import ConfigError, load, load_from
from beds_actors.config.models import (
    AmqpConfig,
    BedsConfig,
    BrokerConfig,
    DbEndpoint,
    EventsConfig,
    StoreConfig,
)

__all__ = [
    "AmqpConfig",
    "BedsConfig",
    "BrokerConfig",
    "ConfigError",
    "DbEndpoint",
    "EventsConfig",
    "StoreConfig",
    "load",
    "load_from",
]
