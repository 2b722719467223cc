"""Notifications (docs/PROTOCOL.md §17.4): the events outbox written in the transaction of each change
(``events``), the authority's feed of them (``feed``), and their delivery as Standard Webhooks
(``webhook_url``, ``schedule``, ``delivery``)."""
