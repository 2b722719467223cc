"""The rest of a legal request's life after its orders (docs/PROTOCOL.md §16): preservation
holds (``preservation``), retention that deletes old IP events (``retention``), user notices
(``notices``) and the facts their audit entries carry (in :mod:`gateway.transparency.facts`).
Emergency orders' rules are :mod:`gateway.orders.emergency`'s.

Imports: the floors below (values, errors, config, store, principals, subjects, audit, orders,
transparency) and ``crypto``; never ``api`` or ``cli``.
"""
