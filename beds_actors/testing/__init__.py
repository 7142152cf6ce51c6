"""Helpers for testing against a real BEDS: isolation, waiting, queue state, load, reply taps.

BEDS's own suite uses them; so can a team testing its services against BEDS. Nothing here
mocks RabbitMQ or a database: every helper talks to the real services.
"""

from beds_actors.testing.database import connection, count_rows, running_calls
from beds_actors.testing.isolation import isolated_overrides
from beds_actors.testing.load import gather_replies, statuses, steady_load
from beds_actors.testing.network import outside_loopback
from beds_actors.testing.queues import QueueState, dlq_depths, queue_states
from beds_actors.testing.tap import ReplyTap
from beds_actors.testing.waiting import wait_until

__all__ = [
    "QueueState",
    "ReplyTap",
    "connection",
    "count_rows",
    "dlq_depths",
    "gather_replies",
    "isolated_overrides",
    "outside_loopback",
    "queue_states",
    "running_calls",
    "statuses",
    "steady_load",
    "wait_until",
]
