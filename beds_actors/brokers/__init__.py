"""Brokers: the AMQP entrypoints. Every broker type is the same Dispatcher on a different queue."""
