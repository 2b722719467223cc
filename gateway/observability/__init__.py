"""What the operator sees of a running gateway without subject data: Prometheus metrics
(``metrics``), JSON logs (``logs``) and OpenTelemetry traces (``tracing``).

Imports: the standard library, prometheus-client, (optionally) OpenTelemetry, ``config``, ``errors``
and the store's tables (metrics count rows); nothing of the domains, so every layer may report through it.
"""
