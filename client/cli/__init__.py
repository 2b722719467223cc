"""The principals' commands: `keygen`, `request …`, `review …`, `query`, `open`.

:mod:`client.cli.main` gathers them; the gateway's own `gateway` command mounts the same commands,
so one program name serves both. Imports: the rest of ``client``, ``crypto``, typer and rich.
"""
