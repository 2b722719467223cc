"""The HTTP and GraphQL edge: the only place where domain errors become responses.

``http`` (the Starlette routes and the one request path), ``engine`` (GraphQL execution and error
masking), ``schema`` (the schema composed from one module per area: ``authority``, ``review``,
``audit_area``, ``preservation_area``, ``transparency_area``), ``context``, ``access`` and
``scope`` (who may run what, over the pure policy), ``types``, ``ratelimit``, ``request_log``.

Imports: everything below it (values, errors, config, store, the domains, audit, transparency,
services); nothing imports ``api`` but ``app`` and ``cli``.
"""
