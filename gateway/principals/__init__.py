"""Who asks: the principals and their keys (``registry``), the token check of every request
(``authenticate``), and single use of a token's jti (``replay``: the request path's check and the
audit writer's batch insert, in one module).

Imports: ``crypto``, ``errors``, ``config``, ``store`` and the value layer; nothing of the domains.
"""
