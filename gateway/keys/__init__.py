"""The gateway's own keys: the key files and their loading (``keyring``), encryption at rest and
blind indexes (``vault``), key backups (``backup``) and rotation (``rotation``).

Imports: ``crypto``, ``errors``, ``config`` and, for backup and rotation, ``store`` and the
domains whose sealed rows they re-seal; never ``api`` or ``cli``.
"""
