"""BEDS — Back End Data System: an AMQP-first, template-driven data backend on Ray."""

__version__ = "0.1.0"
