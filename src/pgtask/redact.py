"""What the faces (CLI, console, web) may show of stored data: URLs without their secrets,
text without the control characters a terminal would obey. Pure functions; none raises.

URLs stay stored as given (the worker needs them whole); only their display is redacted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

UNPARSEABLE = "<unparseable URL>"
HIDDEN = "***"

# host (a name, IPv4, or a bracketed IPv6 with an optional zone) and an optional port
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+(%[\w.~%-]+)?\]|[^\[\]@:/?#\s]*)(:[0-9]{0,5})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Keys that hold a follow-up task's own options (pgtask.chains): they may carry a target_url.
_FOLLOW_UP_KEYS = ("on_success", "on_failure")


def redact_url(url: object) -> str:
    """`url` for display: userinfo shown as '***@', every query value as '***' (keys kept; a
    part without '=' may be a bare token and is hidden whole), the fragment dropped.

    When the authority has no '@' but the path has one, a '/' in a password may have cut the
    authority short (as in pgtask.config.redact_dsn): everything up to that last '@' is
    hidden rather than part of it shown. Anything that does not parse as a URL is shown as
    UNPARSEABLE, never raw.
    """
    try:
        return _redact(url) if isinstance(url, str) else UNPARSEABLE
    except Exception:  # display must never fail on a stored value, whatever it holds
        return UNPARSEABLE


def _redact(url: str) -> str:
    if _CONTROL.search(url):  # urlsplit would silently drop some (tab, newline) and keep others
        return UNPARSEABLE
    has_scheme = "://" in url
    parts = urlsplit(url if has_scheme or url.startswith("//") else "//" + url)
    if has_scheme and not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme):
        return UNPARSEABLE
    userinfo, at, hostport = parts.netloc.rpartition("@")
    path = parts.path
    if not at and "@" in path:
        hostport = path.rpartition("@")[2].split("/", 1)[0]
        path = path[len(path.rpartition("@")[0]) + 1 + len(hostport):]
        at = "@"
    if not _HOST_PORT.fullmatch(hostport):
        return UNPARSEABLE
    head = f"{parts.scheme}://" if has_scheme else ("//" if url.startswith("//") else "")
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return f"{head}{HIDDEN + '@' if at else ''}{hostport}{path}{'?' + query if query else ''}"


def _redact_param(param: str) -> str:
    key, eq, value = param.partition("=")
    if not eq:
        return HIDDEN if key else ""
    return f"{key}={HIDDEN if value else ''}"


def redact_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task or queue row with its target_url redacted, and those of a task's follow-up
    specs (which nest: a follow-up has follow-ups of its own)."""
    out = dict(row)
    if out.get("target_url") is not None:
        out["target_url"] = redact_url(out["target_url"])
    for key in _FOLLOW_UP_KEYS:
        specs = out.get(key)
        if isinstance(specs, list):
            out[key] = [redact_row(s) if isinstance(s, Mapping) else s for s in specs]
        elif isinstance(specs, Mapping):
            out[key] = redact_row(specs)
    return out


# -- text for terminals ---------------------------------------------------------------------

_BIDI = {*range(0x202A, 0x202F), *range(0x2066, 0x206A)}  # embeddings, overrides, isolates


def _escape(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "␡"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in (*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI)}
_MULTILINE_TABLE = {k: v for k, v in _TABLE.items() if k not in (0x09, 0x0A)}
_JSON_TABLE = {code: f"\\u{code:04x}" for code in _TABLE if code != 0x0A}


def printable(text: object, *, multiline: bool = False) -> str:
    """`text` with every character a terminal would act on made visible: C0 controls (ESC
    shows as ␛), DEL, C1 controls and the bidi embeddings/overrides/isolates (as \\x9b,
    \\u202e). With multiline=True, newline and tab are kept. Not markup-safe by itself:
    print the result as rich Text, never as a markup string."""
    if not isinstance(text, str):
        text = str(text)
    return text.translate(_MULTILINE_TABLE if multiline else _TABLE)


def printable_json(text: str) -> str:
    """JSON text (from json.dumps, newlines from its indent kept) with every control
    character inside it written as a JSON escape (\\u009b), so it stays valid JSON."""
    return text.translate(_JSON_TABLE)
