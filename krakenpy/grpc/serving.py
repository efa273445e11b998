"""Whether a gateway publishes gRPC methods: asked by the server process, so it imports no protobuf."""

from __future__ import annotations

from typing import Final

from krakenpy.resources import Resources
from krakenpy.state import Key

__all__ = ["SERVING", "serves_grpc"]

#: set in the service's state once a gRPC server is built: the listeners then take HTTP/2 prior knowledge
SERVING: Final = Key("grpc server", object)


def serves_grpc(gateway: object) -> bool:
    """Whether ``gateway`` (or its :class:`~krakenpy.resources.Resources`) publishes gRPC methods: its
    listeners then speak HTTP/2 cleartext too."""
    resources = gateway if isinstance(gateway, Resources) else getattr(gateway, "resources", None)
    return isinstance(resources, Resources) and resources.state.get(SERVING) is True
