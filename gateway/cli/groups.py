"""What `gateway --help` lists for each command and group, stated once: read by the group's
own app, and by the stub that lists it without importing its module (:mod:`client.cli.group`)."""

from __future__ import annotations

from typing import Final

PRINCIPALS: Final = "Register, list and suspend authorities, reviewers and auditors."
SUBJECTS: Final = "Import, update, delete and count the platform's subjects, stored encrypted with blind-index lookups."
SOURCES: Final = "Check the subject source the gateway reads subjects from."
AUDIT: Final = "Verify the audit log, export and check inclusion proofs, list entries, checkpoint."
KEYS: Final = ("Back up, restore and rotate the gateway's own keys; print the public halves of a principal's key "
               "files; rotate a principal's own keys at the gateway.")
DEMO: Final = "Demo data and the whole story against a local gateway."
TRANSPARENCY: Final = "Generate, store and verify transparency reports."
WITNESS: Final = "Run a C2SP tlog witness that cosigns the gateway's checkpoints."
RETENTION: Final = "Delete subject data past its retention period."
NOTICES: Final = "User notices: list those due, record their delivery."

# The short help of each top-level command, listed in `gateway --help` without importing its module:
# the first paragraph of the command's docstring (tests/client/test_cli_start.py holds them equal).
INIT: Final = "Create the database schema and the gateway's keys (owner-only). Running it again changes nothing."
SERVE: Final = "Serve the gateway. Refuses to start when keys are missing or readable by others."
SCHEMA: Final = "The GraphQL schema as SDL, generated from the code."
