"""Fixtures of the pub/sub tests."""

from tests.nats_server import nats_server as nats_server
