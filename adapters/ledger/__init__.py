"""Adapters of the ledger port (``ports.ledger``): ``sqlite.SqliteLedger``, the embedded default."""
