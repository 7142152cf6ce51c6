"""Typed configuration schema; every table forbids unknown keys so typos fail the start."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["create", "fetch", "update", "delete"]
Env = Literal["dev", "qa", "prod"]
QueueType = Literal["classic", "quorum"]
ALL_OPS: tuple[Op, ...] = ("create", "fetch", "update", "delete")
MONGODB_PORT = 27017  # the default port of a `kind = "mongodb"` store's endpoints


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeConfig(_Strict):
    """Which roles this process runs; the only thing that makes nodes differ."""

    roles: list[str] = Field(default_factory=lambda: ["appServer"], min_length=1)
    name: str = "local"

    @property
    def role(self) -> str:
        """The first role: what clients and CLI commands address by default."""
        return self.roles[0]


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class AmqpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=5672, ge=1, le=65535)
    user: str = "guest"
    password: str = "guest"
    vhost: str = "/"
    exchange: str = "beds"
    queue_prefix: str = "beds."
    heartbeat_s: int = Field(default=30, ge=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    reconnect_interval_s: float = Field(default=1.0, gt=0, description="pause between reconnects")
    queue_type: QueueType = Field(
        default="quorum", description="type of broker queues and their DLQs (docs/reliability.md)"
    )

    @property
    def url(self) -> str:
        """The AMQP URL aio-pika connects to (password included; never log it)."""
        vhost = "%2F" if self.vhost == "/" else self.vhost.lstrip("/")
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.port}/{vhost}"

    @property
    def where(self) -> str:
        """host:port for messages that must not leak credentials."""
        return f"{self.host}:{self.port}"


class RayConfig(_Strict):
    address: str = Field(default="", description="empty: start a local Ray; else a cluster address")
    namespace: str = "beds"
    include_dashboard: bool = Field(
        default=False,
        description="local Ray only: start the dashboard on 127.0.0.1 (`beds up` prints its URL)",
    )
    actor_start_timeout_s: float = Field(default=60.0, gt=0)
    supervise_interval_s: float = Field(
        default=1.0, gt=0, description="how often the supervisor checks every broker actor"
    )


class LimitsConfig(_Strict):
    max_body_bytes: int = Field(default=1_048_576, ge=256)
    request_timeout_s: float = Field(default=10.0, gt=0)
    max_fetch_rows: int = Field(default=1000, ge=1)


class DbEndpoint(_Strict):
    """One database server; StoreConfig fills the defaults that depend on the store's kind."""

    host: str = "127.0.0.1"
    port: int = Field(default=3306, ge=1, le=65535)
    user: str  # required; a MongoDB store defaults it to "" (no auth)
    password: str = ""
    database: str

    @property
    def where(self) -> str:
        """host:port/database, for messages."""
        return f"{self.host}:{self.port}/{self.database}"


class StoreConfig(_Strict):
    """One configured database; templates name it in their `store` key."""

    kind: Literal["mariadb", "mongodb"]
    required: bool = True
    pool_size: int = Field(default=10, ge=1, le=500, description="connections per adapter actor")
    actors: int = Field(default=1, ge=1, le=64, description="adapter actors per node")
    placement: Literal["actor", "in_broker"] = Field(
        default="actor",
        description="actor: adapter actors shared by a node's brokers, one Ray call per batch; "
        "in_broker: each broker process owns an adapter and pool (no hop, pool per broker)",
    )
    master: DbEndpoint
    secondary: DbEndpoint | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    schema_dir: str = Field(default="", description="DBA-owned SQL files `beds schema apply` runs")

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A MongoDB endpoint defaults to port 27017 and no user (no auth); MariaDB is unchanged."""
        if not isinstance(data, dict) or data.get("kind") != "mongodb":
            return data
        # Only endpoints given as tables: anything else is left for validation to report.
        return {
            **data,
            **{
                key: {"port": MONGODB_PORT, "user": "", **data[key]}
                for key in ("master", "secondary")
                if isinstance(data.get(key), dict)
            },
        }


class BrokerConfig(_Strict):
    """One broker type of a role: the queue it consumes and how many instances do so."""

    instances: int = Field(default=1, ge=0, le=256)
    prefetch: int = Field(default=64, ge=1, le=65535)
    ops: list[Op] = Field(default_factory=lambda: list(ALL_OPS))
    num_cpus: float = Field(default=0.0, ge=0)
    max_batch: int = Field(default=256, ge=1)
    batch_stall_ms: float = Field(
        default=50.0, ge=0, description="a batch running longer lets the next one start beside it"
    )
    max_batches_in_flight: int = Field(default=4, ge=1, le=64)
    templates: list[str] | None = Field(
        default=None, description="templates this broker serves; default: every template"
    )
    queue_type: QueueType | None = Field(default=None, description="default: amqp.queue_type")
    max_attempts: int | None = Field(
        default=None, ge=1, description="tries before the DLQ; default: retry.max_attempts"
    )
    max_length_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="queue length limit; publishers past it are refused (x-overflow: "
        "reject-publish), never silently dropped",
    )


class AdminConfig(_Strict):
    """Admin commands (status, scale, swap, shutdown) need a token; nodes keep its hash."""

    token_hash: str = Field(default="", description="argon2 hash: `beds admin hash-token`")
    token: str = Field(default="", description="what `beds` CLI commands send (env file only)")


class RetryConfig(_Strict):
    """What happens to a request whose backend failed (docs/reliability.md)."""

    max_attempts: int = Field(default=6, ge=1, le=100, description="tries before the DLQ")
    backoff_s: list[float] = Field(
        default_factory=lambda: [1.0, 2.0, 4.0, 8.0, 15.0],
        min_length=1,
        description="delay before retry n (the last value repeats)",
    )
    max_deliveries: int = Field(
        default=5, ge=1, le=100, description="deliveries without an answer before the DLQ"
    )

    def delay_ms(self, attempt: int) -> int:
        """Delay before running `attempt` (2, 3, …), in whole milliseconds."""
        return int(self.backoff_s[min(attempt - 2, len(self.backoff_s) - 1)] * 1000)

    def delays_ms(self) -> list[int]:
        """Every distinct delay: one TTL retry queue each."""
        return sorted({int(s * 1000) for s in self.backoff_s})


class EventsConfig(_Strict):
    """Event lineage: every step of every request, sent to the logger store (docs/lineage.md)."""

    enabled: bool | None = Field(
        default=None, description="default: on when the config has the logs brokers"
    )
    route: str = Field(default="admin.adminLogsBroker", description="routing key of request events")
    system_route: str = Field(
        default="admin.adminSyslogBroker", description="routing key of system events"
    )
    buffer: int = Field(
        default=20_000, ge=100, description="events a process holds while RabbitMQ is away"
    )
    batch: int = Field(default=500, ge=1, le=10_000, description="events per published message")
    flush_ms: float = Field(default=100.0, gt=0, description="longest wait before publishing")
    retention_days: float = Field(default=30.0, gt=0, description="events older are purged")
    purge_interval_s: float = Field(default=3600.0, gt=0)


class RoleConfig(_Strict):
    brokers: dict[str, BrokerConfig] = Field(default_factory=dict)


class BedsConfig(_Strict):
    """The whole validated configuration of one node."""

    env: Env = "dev"
    node: NodeConfig = NodeConfig()
    logging: LoggingConfig = LoggingConfig()
    amqp: AmqpConfig = AmqpConfig()
    ray: RayConfig = RayConfig()
    limits: LimitsConfig = LimitsConfig()
    retry: RetryConfig = RetryConfig()
    admin: AdminConfig = AdminConfig()
    events: EventsConfig = EventsConfig()
    templates_dir: str = "templates"
    stores: dict[str, StoreConfig] = Field(default_factory=dict)
    roles: dict[str, RoleConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_are_configured(self) -> BedsConfig:
        missing = [r for r in self.node.roles if r not in self.roles]
        if missing:
            known = ", ".join(sorted(self.roles)) or "none"
            raise ValueError(
                f"node.roles names {missing} without a [roles.<role>] table "
                f"(configured roles: {known})"
            )
        return self

    @model_validator(mode="after")
    def _event_routes_are_brokers(self) -> BedsConfig:
        if self.events.enabled:
            for key, route in self._event_routes():
                if route is None:
                    raise ValueError(
                        f"events.{key} = {getattr(self.events, key)!r} names no configured "
                        "broker <role>.<broker> (the admin role's adminLogsBroker / "
                        "adminSyslogBroker); configure it, or set events.enabled = false"
                    )
        return self

    def _event_routes(self) -> list[tuple[str, tuple[str, str] | None]]:
        out: list[tuple[str, tuple[str, str] | None]] = []
        for key in ("route", "system_route"):
            role, _, broker = str(getattr(self.events, key)).partition(".")
            known = broker in (self.roles[role].brokers if role in self.roles else {})
            out.append((key, (role, broker) if known else None))
        return out

    @property
    def events_on(self) -> bool:
        """Whether processes record events: `events.enabled`, else whether logs brokers exist."""
        if self.events.enabled is not None:
            return self.events.enabled
        return all(route is not None for _, route in self._event_routes())

    @property
    def role(self) -> RoleConfig:
        """The role table of this node's first role."""
        return self.roles[self.node.role]

    def brokers(self) -> list[tuple[str, str, BrokerConfig]]:
        """(role, broker, its config) for every broker this node runs."""
        return [(r, b, c) for r in self.node.roles for b, c in self.roles[r].brokers.items()]

    def broker(self, role: str, broker: str) -> BrokerConfig:
        """One broker's config."""
        return self.roles[role].brokers[broker]

    def routing_key(self, broker: str, role: str | None = None) -> str:
        """Routing key of a broker: `<role>.<broker>` (role: this node's first by default)."""
        return f"{role or self.node.role}.{broker}"

    def queue_name(self, broker: str, role: str | None = None) -> str:
        """Queue name a broker consumes: `<queue_prefix><role>.<broker>`."""
        return f"{self.amqp.queue_prefix}{role or self.node.role}.{broker}"

    def max_attempts(self, broker: str, role: str | None = None) -> int:
        """Tries of a request on this broker before it is parked."""
        return self.broker(role or self.node.role, broker).max_attempts or self.retry.max_attempts

    def queue_type(self, broker: str, role: str | None = None) -> QueueType:
        """Classic or quorum, for a broker's queue and its DLQ."""
        return self.broker(role or self.node.role, broker).queue_type or self.amqp.queue_type
