"""The `gateway` command line (docs/PROTOCOL.md §9): one module per command group."""
