"""The rest of a legal request's life after its orders (docs/PROTOCOL.md §16): emergency orders
that lapse without a court order (``emergency``), preservation holds (``preservation``),
retention that deletes old IP events (``retention``), user notices (``notices``) and the facts
their audit entries carry (in :mod:`gateway.transparency.facts`).

Imports: the value layer, ``errors``, ``config``, ``store``, ``subjects``, ``audit.model`` and
``crypto``; never ``api`` or ``cli``. ``emergency`` is a pure rule (no storage), which policy uses.
"""
