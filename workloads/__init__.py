"""Workloads, one module per workload: generator, checker, op vocabulary.

Installed as ``jepsy.workloads``.
"""
