"""``python -m client``: the principals' commands under the program name `gateway`."""

from client.cli.main import run

run()
