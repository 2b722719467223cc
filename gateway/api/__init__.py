"""The HTTP and GraphQL edge: the only place where domain errors become responses."""
