"""What `gateway --help` lists for each principals' command and group, stated once: read by the group's
own app, and by the stub that lists it without importing its module (:mod:`client.cli.group`)."""

from __future__ import annotations

from typing import Final

REQUEST: Final = "Authorities: submit legal requests and follow their review."
REVIEW: Final = "Reviewers: read requests; draft, approve, reject and revoke orders."

# The short help of each principals' top-level command, listed without importing its module: the
# first paragraph of the command's docstring (tests/client/test_cli_start.py holds them equal).
KEYGEN: Final = ("Write PREFIX.sign.key (Ed25519) and PREFIX.seal.key (X25519), owner-only, and print the public "
                 "halves and their kids as JSON.")
QUERY: Final = "Query subjects of your order; open and verify every sealed value, then print them."
OPEN: Final = "Open and verify a saved query response with your sealing key and the gateway's signing key."
