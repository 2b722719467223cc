"""The principals' toolkit: what an authority, a reviewer or an auditor runs on its own machine.

It speaks to a gateway over HTTP with signed tokens (:mod:`client.http`), sends the GraphQL
operations of :mod:`client.operations` using the wire names of :mod:`client.wire`, opens and
checks sealed records (:mod:`client.unseal`), keeps key files (:mod:`client.keyfiles`) and offers
the principals' commands (:mod:`client.cli`; ``python -m client``). What an auditor runs without
the gateway's help: :mod:`client.monitor` (follow the log over time) and :mod:`client.proof` (check
a saved inclusion proof offline). Errors: :mod:`client.errors`; where a response sits in the log:
:mod:`client.audit_ref`.

Imports: ``crypto`` and the client's own libraries (httpx, typer, rich, PyNaCl) and nothing of
``gateway`` or of the server's libraries (SQLAlchemy, sqlmodel, alembic, strawberry, starlette,
uvicorn); ``tests/client/test_isolation.py`` holds it to that.
"""
