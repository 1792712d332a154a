"""The package version, in one place: hatch reads it at build time ([tool.hatch.version] in
pyproject.toml), `pgtask --version` and the HTTP User-Agent read it at run time."""

__version__ = "0.1.0"
