"""``telemetry/opencensus`` (krakend-opencensus, deprecated by KrakenD) on krakenpy's one tracer and
metrics registry: OpenCensus' sampling, span names and ``ochttp`` views, B3 propagation, and the
Prometheus, Jaeger, Zipkin, InfluxDB and logger exporters."""
