"""The GraphQL edge: ``engine`` (execution, caches, error masking), ``expansion`` (the cost of a
document before it runs), ``scope`` and ``access`` (who may run what, over the pure policy),
``context``, ``types`` and ``schema``, composed from one module per area: ``authority``,
``review``, ``audit_area``, ``preservation_area``, ``transparency_area``, ``whoami``.

Imports: the floors below ``api``; never ``api.http``.
"""
