"""The HTTP edge: ``endpoint`` (the one request path: token, admission, GraphQL, audit entry,
response), ``log_routes`` (checkpoint, tiles, entry bundles), ``transparency_routes`` (published
reports), ``request_log`` (one line a request), ``json_response`` and ``rate_limit``.

Imports: ``api.graphql`` and every floor below; only ``app`` and ``cli`` import it.
"""
