"""Event lineage: compound event ids, events of every step, and their way to the logger store.

Modules: `ids` (compound ids), `lineage` (where a delivery sits in its trace), `model` (one
event on the wire), `recorder` (bounded buffer, batched confirmed publishes), `tracer` (the
steps of a request as events), `system` (system events and the IPL record).
"""
