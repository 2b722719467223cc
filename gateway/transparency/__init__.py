"""Transparency reports (docs/PROTOCOL.md §10): figures computed from the audit log alone, rendered
as JSON, CSV and HTML, signed with the gateway's key, stored once and verifiable offline.

- ``facts``: the non-personal attributes that audit entries carry (the vocabulary, §10 and §16).
- ``period``: report periods (``2026-Q3``, ``2026-H2``, ``2026``, ``2026-07``, ``FROM..UNTIL``).
- ``figures``: the figures as a pure function of entry documents.
- ``banded``: the published figures under threshold banding: bands, and what is withheld with them.
- ``suppression``: complementary suppression, auditing the sums between counts as an outsider would.
- ``render``: report.json's body, report.csv and report.html (inline SVG, no script, no fetch).
- ``signing``: the detached signature over the report's JCS form, and its check.
- ``verify``: recompute leaves, root and figures from an export; no database.
- ``store``: published reports, stored once, versioned, never changed.

Imports: ``crypto``, the value layer, ``errors``, ``audit``, ``store`` and, for the facts the
resolvers record, ``orders``, ``policy`` and ``principals``; never ``api`` or ``cli``.
"""
