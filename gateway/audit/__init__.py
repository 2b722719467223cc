"""The audit log (docs/PROTOCOL.md §7): one writer, a Merkle tree over its entries, signed checkpoints."""
