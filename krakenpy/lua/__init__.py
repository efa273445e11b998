"""The Lua engine behind the ``modifier/lua-endpoint``, ``modifier/lua-proxy`` and
``modifier/lua-backend`` components (``krakenpy/components/modifier/``): a sandboxed lupa runtime,
scripts compiled once at startup, the KrakenD Lua API and the router/proxy middlewares."""
