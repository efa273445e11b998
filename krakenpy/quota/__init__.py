"""KrakenD Enterprise's quotas: processors (``governance/processors``) keep usage counters in Redis
per caller and calendar window; attachments (``governance/quota``) pick a tier, a caller key and a
weight per request. See :mod:`krakenpy.quota.middleware` for what a request goes through."""
