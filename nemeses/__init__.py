"""Nemeses, one module per fault family. Installed as ``jepsy.nemeses``."""
