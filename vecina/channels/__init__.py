"""Messaging channels: the durable inbound store and the provider connectors built on it."""
