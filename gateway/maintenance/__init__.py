"""The operator's maintenance acts on a whole gateway: ``initialize`` (a new data directory, its
keys, schema and first checkpoint), ``backup`` (the keys, sealed to age recipients, and their
check) and ``rotation`` (a new signing, sealing or at-rest key, re-sealing every row it covers).

Imports: any floor below (store, keys, subjects, audit, orders, lifecycle); never ``api`` or ``cli``.
"""
