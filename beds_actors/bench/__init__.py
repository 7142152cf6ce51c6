"""`beds bench`: an AMQP RPC load generator that drives BEDS or any system with its wire contract.

Modules: `rpc` (lean RPC client), `workload` (ops, seeding), `load` (the in-flight loop),
`procs` (CPU and memory per process group), `report` (summary, JSON, live display) and
`command` (the typer command registered as `beds bench`).
"""
