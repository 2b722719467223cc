"""The operator's `gateway` command line (docs/PROTOCOL.md §9): one module per command group.

``main`` builds the one `gateway` program and mounts the principals' commands from
:mod:`client.cli` beside the operator's. Imports: anything of ``gateway`` and, here only, ``client``
(the demo drives the client's operations; ``monitor`` fetches discovery with it).
"""
