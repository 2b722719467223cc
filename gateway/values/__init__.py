"""The value layer, at the bottom of ``gateway``: plain values every domain shares.

- :mod:`gateway.values.times` — RFC 3339 parsing and the two written forms (§4 values, audit entries).
- :mod:`gateway.values.window` — :class:`~gateway.values.window.TimeWindow`, a half-open UTC interval.
- :mod:`gateway.values.fields` — the disclosable subject field names of docs/PROTOCOL.md §5.
- :mod:`gateway.values.ids` — ``NewType``s for the ids the gateway issues, and their prefixes.
- :mod:`gateway.values.selector` — :class:`~gateway.values.selector.Selector`, one subject named by
  id, username or phone number.

Imports: the standard library and :mod:`gateway.errors`, nothing else of ``gateway``; so policy,
subjects, orders and the API can all import it without importing each other.
"""
