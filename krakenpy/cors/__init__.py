"""CORS with rs/cors v1.11.1 semantics (KrakenD CE's ``security/cors``): options, the precomputed
policy, endpoint routes and the edge middleware."""

from krakenpy.cors.middleware import cors_middleware
from krakenpy.cors.options import CorsOptions, parse_cors
from krakenpy.cors.policy import CorsPolicy
from krakenpy.cors.routes import RouteMap

__all__ = ["CorsOptions", "CorsPolicy", "RouteMap", "cors_middleware", "parse_cors"]
