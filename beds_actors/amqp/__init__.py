"""AMQP plumbing shared by IPL, brokers and the client: connect and declare the topology."""

from beds_actors.amqp.topology import connect, declare_topology

__all__ = ["connect", "declare_topology"]
