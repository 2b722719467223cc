"""The HTTP and GraphQL edge: the only place where domain errors become responses.

``graphql/`` (the schema, its engine and who may run what) below ``http/`` (the Starlette routes
and the one request path). Imports: everything below it; nothing imports ``api`` but ``app`` and
``cli``.
"""
