"""Event lineage: compound event ids, events of every step, and their way to the logger store.

Modules: `ids` (compound ids), `lineage` (where a delivery sits in its trace), `model` (events
on the wire), `recorder` (bounded buffer, batched confirmed publishes), `tracer` (a delivery
and its steps as one event), `system` (system events and the IPL record), `retention` (the
admin role's purge), `chain` (a stored trace as a tree, for `beds trace`).
"""
