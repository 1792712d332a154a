"""HTTP targets: deliver tasks by POSTing them to an application (see docs/http-targets.md).

The runner hands a claimed task whose queue (or the task itself) has a target URL to an
HttpDispatcher; the HTTP answer decides the outcome, Cloud Tasks style.
"""

from .config import HttpConfig
from .dispatch import HttpDispatcher
from .model import Dispatch, HttpAttempt, QueuePolicy
from .policy import TargetRefused
from .signing import InvalidSignature, SigningSecret, new_secret, sign_webhook, verify_signature

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
