"""Legal requests and the reviewer-signed orders drafted from them (docs/PROTOCOL.md §3, §5).

- :mod:`~gateway.orders.model` — the values: enums, limits, inputs, :class:`LegalRequest`,
  :class:`OrderState`.
- :mod:`~gateway.orders.approvals` — whether a reviewer's signature over an order text counts.
- :mod:`~gateway.orders.undo` — reversing a committed change when its request ends unaudited.
- :mod:`~gateway.orders.service` — :class:`Orders`: submit, review, draft, approve, revoke, load.

Whether an order may be used is decided by :mod:`gateway.policy` (pure, no storage).

Imports: the value layer, ``errors``, ``policy``, ``principals``, ``store``, ``subjects``,
``lifecycle.emergency``, ``keys.vault``, ``usage``, ``audit.model`` and ``crypto``; never ``api`` or ``cli``.
"""
