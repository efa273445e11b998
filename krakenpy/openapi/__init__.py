"""OpenAPI 3.1 documents generated from a configuration (``documentation/openapi``, KrakenD EE's fields).

Pure functions of the compiled service: the component serves the result (``serve_at``) and
``krakenpy openapi export`` prints it; nothing here reads files or the network.
"""

from __future__ import annotations

from krakenpy.openapi.document import OPENAPI_VERSION, generate
from krakenpy.openapi.options import DocOptions, parse_doc

__all__ = ["OPENAPI_VERSION", "DocOptions", "generate", "parse_doc"]
