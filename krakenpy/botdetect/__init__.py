"""Bot detection by User-Agent (``security/bot-detector``): options, the cached decision and the
edge and endpoint middlewares."""

from krakenpy.botdetect.detector import Detector, RateLimitedLog
from krakenpy.botdetect.middleware import bot_edge_middleware, bot_endpoint_middleware
from krakenpy.botdetect.options import BotOptions, parse_bot

__all__ = ["BotOptions", "Detector", "RateLimitedLog", "bot_edge_middleware", "bot_endpoint_middleware", "parse_bot"]
