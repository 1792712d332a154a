"""Reading a .sql file written for the mysql client into the statements it holds."""

from __future__ import annotations


def split_script(text: str) -> list[str]:
    """The statements of a .sql file written for the mysql client.

    Honours DELIMITER lines (so procedure bodies keep their semicolons) and drops whole-line
    "--" comments; a statement ends where a line ends with the current delimiter.
    """
    statements: list[str] = []
    delimiter = ";"
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not lines and (not stripped or stripped.startswith("--")):
            continue
        if stripped.upper().startswith("DELIMITER "):
            delimiter = stripped.split(None, 1)[1]
            continue
        lines.append(line)
        if stripped.endswith(delimiter) and not stripped.startswith("--"):
            statement = "\n".join(lines).rstrip()[: -len(delimiter)].strip()
            if statement:
                statements.append(statement)
            lines = []
    if "".join(lines).strip():
        raise ValueError(f"unterminated statement at the end of the script: {lines[0][:60]!r}")
    return statements
