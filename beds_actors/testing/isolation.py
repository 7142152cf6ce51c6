"""Side-by-side systems: each gets its own exchange, queues and Ray namespace."""

from __future__ import annotations


def isolated_overrides(tag: str) -> dict[str, str]:
    """`BEDS__` overrides that give a system its own exchange, queue prefix and Ray namespace.

    Two systems with different tags on one RabbitMQ and one Ray never see each other's requests.
    """
    if not tag.replace("_", "").isalnum():
        raise ValueError(f"tag {tag!r}: letters, digits and _ only")
    return {
        "BEDS__AMQP__EXCHANGE": f"beds_{tag}",
        "BEDS__AMQP__QUEUE_PREFIX": f"beds_{tag}.",
        "BEDS__RAY__NAMESPACE": f"beds_{tag}",
    }
