"""Admin commands and replies on the wire (docs/protocol.md, "Admin commands")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CommandName = Literal["status", "scale", "swap", "shutdown"]


class Command(BaseModel):
    """A command published to the control exchange; every node receives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: CommandName
    token: str = Field(default="", max_length=1024, description="the admin token")
    target: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$", description="<role>.<broker>"
    )
    count: int | None = Field(default=None, ge=0, le=256)

    def split_target(self) -> tuple[str, str]:
        """(role, broker) of `target`."""
        role, broker = (self.target or ".").split(".", 1)
        return role, broker


class NodeReply(BaseModel):
    """One node's answer: `handled` is false when the target is not one of its brokers."""

    node: str
    status: Literal["ok", "error"]
    handled: bool = True
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
