"""Database modules: one per database, each a DB (see ``jepsy.protocols``) with its clients."""
