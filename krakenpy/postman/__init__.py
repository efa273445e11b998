"""Postman collections (v2.1) generated from a configuration, as ``krakend generate postman``
(KrakenD Enterprise) writes them from ``documentation/postman``: :func:`collection`."""

from krakenpy.postman.collection import SCHEMA, collection
from krakenpy.postman.options import EndpointDoc, ServiceDoc, parse_endpoint_doc, parse_service_doc

__all__ = ["SCHEMA", "EndpointDoc", "ServiceDoc", "collection", "parse_endpoint_doc", "parse_service_doc"]
