from __future__ import annotations

from typing import Any

from krakenpy.config.build import build_service
from krakenpy.config.model import EndpointConfig


def endpoint_config(endpoint: dict[str, Any], **service: Any) -> EndpointConfig:
    """Build one endpoint through the real config model (defaults + placeholder rewriting)."""
    doc: dict[str, Any] = {"version": 3, "host": ["http://127.0.0.1:10"], "endpoints": [endpoint], **service}
    return build_service(doc).endpoints[0]
