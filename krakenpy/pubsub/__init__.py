"""Publish/subscribe backends (KrakenD CE's krakend-pubsub over gocloud.dev drivers).

A backend with ``backend/pubsub/publisher`` sends the request body (and the first value of each
request header as metadata) to the topic at ``host[0] + topic_url``; one with
``backend/pubsub/subscriber`` answers each request with the next message of the subscription at
``host[0] + subscription_url``, decoded with the backend's encoding, then acknowledged.

The drivers (``mem``, ``nats``, ``gcppubsub``, ``kafka``, ``rabbit``, ``awssns``/``awssqs``) are modules of this
package, imported only by the configurations that name their scheme; :mod:`krakenpy.pubsub.urls`
knows the schemes.
"""
