"""The telemetry middlewares, one module per pipeline layer (edge, endpoint/proxy, backend, client)."""
