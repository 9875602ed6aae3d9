"""Observability: structured logs and OpenTelemetry traces (used by messaging and the web edge)."""
