"""The audit log (docs/PROTOCOL.md §7): one writer, a Merkle tree over its entries, signed
checkpoints, tiles, witnesses' cosignatures, ``verify`` for the whole log, and ``usage`` (each
order's query count, kept by the writer with a MAC) and ``grants`` (whether the entry a stored
grant names records it). The monitor an outsider runs lives in
:mod:`client.monitor`.

Imports: ``crypto``, the value layer, ``errors``, ``config``, ``store``, ``keys`` and
``principals.replay`` (the writer records a batch's jtis); no domain (orders, subjects) and
nothing of ``api`` or ``cli``.
"""
