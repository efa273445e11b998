"""The ``governance/*`` components (KrakenD Enterprise's quotas)."""
