"""The gateway's own keys: the key files and their loading (``keyring``), encryption at rest and
blind indexes (``vault``, over :mod:`crypto.aead`), and the AEAD context of every sealed row
(``contexts``). Backing the keys up and rotating them are :mod:`gateway.maintenance`'s.

Imports: ``crypto``, ``errors`` and ``config``; nothing of the domains.
"""
