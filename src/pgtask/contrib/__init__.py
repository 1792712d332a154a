"""Integrations with frameworks (each needs its framework installed: pgtask[django], ...)."""
