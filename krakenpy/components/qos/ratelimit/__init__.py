"""Rate-limit components (``qos/ratelimit/*``); the logic lives in :mod:`krakenpy.ratelimit`."""
