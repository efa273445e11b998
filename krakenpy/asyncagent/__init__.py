"""Async agents (``async_agent``): queue consumers that feed each message to a pipe of backends,
started with the gateway (lura ``async``); the drivers (``async/amqp``) live in their components."""
