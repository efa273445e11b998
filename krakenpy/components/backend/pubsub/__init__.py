"""``backend/pubsub/publisher`` and ``backend/pubsub/subscriber`` (krakend-pubsub)."""
