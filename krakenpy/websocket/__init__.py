"""KrakenD Enterprise's endpoint-level WebSockets (the ``websocket`` namespace).

An endpoint with ``websocket`` upgrades its clients once its guards let the request through, and
connects them to the backend's WebSocket host: one backend connection per client
(``enable_direct_communication``, :mod:`krakenpy.websocket.direct`), or one shared connection per
endpoint that carries every client's messages in KrakenD's envelope (multiplexing, the default,
:mod:`krakenpy.websocket.hub`). The server hands the upgraded connection over as a
:class:`~krakenpy.websocket.socket.ClientSocket`; the namespace's component is
:mod:`krakenpy.components.websocket`.
"""
