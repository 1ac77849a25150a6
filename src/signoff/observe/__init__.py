"""Instrumentation: OpenTelemetry traces and Prometheus metrics. The services that do the work (intake, review,
alerts) record into it; the server exposes it. It knows nothing of the services, so any layer may use it."""
