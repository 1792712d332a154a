"""The one I/O seam: only modules in this package execute SQL."""
