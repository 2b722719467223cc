"""A minimal C2SP tlog-witness (``gateway witness serve``): its own key and state, no database.

It may import ``crypto``, ``gateway.errors`` and starlette, nothing else of the gateway: a second
party runs it to cosign the gateway's log, so it must not need the gateway's configuration.
"""
