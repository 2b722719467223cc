"""The `gateway` command line (PROTOCOL.md §9): one module per command group."""
