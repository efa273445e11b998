"""Rate limiting shared by the ``qos/ratelimit/*`` components: KrakenD's token bucket, the table of
client buckets, client keys, and the Redis-backed cluster-wide bucket."""
