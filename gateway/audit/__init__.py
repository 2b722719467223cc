"""The audit log (docs/PROTOCOL.md §7): one writer, a Merkle tree over its entries, signed
checkpoints, tiles, witnesses' cosignatures, ``verify`` for the whole log, and the ``monitor``
an outsider runs against a gateway over HTTP.

Imports: ``crypto``, the value layer, ``errors``, ``config``, ``store``, ``keys`` and ``usage``;
no domain (orders, subjects) and nothing of ``api`` or ``cli``. ``monitor`` imports only
``crypto``, ``errors`` and httpx.
"""
