"""HTTP targets: deliver tasks by POSTing them to an application (see the README, "HTTP targets").

The runner hands a claimed task whose queue (or the task itself) has a target URL to an
HttpDispatcher; the HTTP answer decides the outcome, Cloud Tasks style.
"""

from pgtask.lazy import lazy_attributes
from pgtask.signing import (
    InvalidSignature,
    SigningSecret,
    new_secret,
    sign_webhook,
    verify_signature,
)

# httpx costs ~0.3 s to import: load the delivery side only when a worker uses it, so
# `import pgtask` (and every CLI command) stays fast.
_LAZY = {"HttpConfig": "pgtask.worker.http.config", "HttpDispatcher": "pgtask.worker.http.dispatch",
         "Dispatch": "pgtask.worker.http.model", "HttpAttempt": "pgtask.models",
         "QueuePolicy": "pgtask.models", "TargetRefused": "pgtask.worker.http.policy"}


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "Dispatch",
    "HttpAttempt",
    "HttpConfig",
    "HttpDispatcher",
    "InvalidSignature",
    "QueuePolicy",
    "SigningSecret",
    "TargetRefused",
    "new_secret",
    "sign_webhook",
    "verify_signature",
]
