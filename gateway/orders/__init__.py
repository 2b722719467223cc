"""Legal requests and the reviewer-signed orders drafted from them (docs/PROTOCOL.md §3, §5).

- :mod:`~gateway.orders.model` — the values: enums, limits, inputs, :class:`LegalRequest`,
  :class:`OrderState`.
- :mod:`~gateway.orders.approvals` — whether a reviewer's signature over an order text counts.
- :mod:`~gateway.orders.requests` — :class:`LegalRequests`: submit, read, reject; an emergency's
  verification and court order.
- :mod:`~gateway.orders.service` — :class:`Orders` (requests, and): draft, approve, revoke, load.
- :mod:`~gateway.orders.header` — the header every request carries, checked once (holds too).
- :mod:`~gateway.orders.policy` — whether an order may be used (pure, no storage).
- :mod:`~gateway.orders.emergency` — the emergency rules: verification, hours, lapse (pure).
- :mod:`~gateway.orders.disclosure` — the permitted fields of one subject, signed and sealed.

Imports: the value layer, ``errors``, ``principals``, ``store``, ``subjects``, ``keys.vault``,
``audit`` and ``crypto``; never ``lifecycle``, ``api`` or ``cli``.
"""
