"""Jusou services: one package per program (事業), each a separate process."""
