"""disclosure-gateway's server: the service an authority queries and the operator runs.

Imports run down the floors, bottom up; a unit imports only units on floors below its own, or
those before it on its own floor (tests/gateway/test_floors.py holds every import to this order
and names the one that climbs):

    1  errors  config  store                  no domain imports; store/ holds the tables, the engine,
                                              migrations, state changes as conditional writes
                                              (``conditional``) and reversing a change (``undo``)
    2  values  keys  observability  notifications
                                              times, windows, fields, ids, selectors; the key files and
                                              the vault (AEAD contexts, blind indexes); metrics, logs;
                                              the events outbox, its feed and its webhook delivery
    3  principals  subjects  audit            who asks (registry, authenticate, single use of a jti);
                                              subjects and their store; the one audit writer, its tree,
                                              checkpoints, tiles, witnessing, usage of orders,
                                              grants proven by their entries
    4  orders                                 legal requests, orders, policy, emergency, disclosure
    5  transparency                           figures from the log alone
    6  lifecycle                              preservation holds, notices, retention
    7  services  maintenance                  the composition root; init, key backup, key rotation
    8  api                                    the edge, the only place errors become responses:
                                              ``api.graphql`` (engine, scope, access, the areas) below
                                              ``api.http`` (endpoint, log and transparency routes)
    9  app                                    ``create_app(settings)``
    10 cli                                    the operator's commands (and, here only, ``client``)
    apart: console (static files, served by ``app``) and witness (a second party's C2SP witness,
    run by ``cli``): each imports only ``errors``, and only ``app`` and ``cli`` import them.

Every unit may import ``crypto`` (the recipes); none imports ``client`` but ``cli``.
"""
