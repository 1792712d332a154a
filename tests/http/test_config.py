"""Worker HTTP settings from the environment, validated loudly."""

from __future__ import annotations

import pytest

import pgtask
from pgtask.worker.http.config import HttpConfig

from .test_signing import NEW, OLD


def test_secrets_from_env_and_file(tmp_path):
    path = tmp_path / "secrets"
    path.write_text(f"# rotated 2024-01\n{OLD}\n")
    config = HttpConfig.from_env({"PGTASK_HTTP_SECRETS": NEW, "PGTASK_HTTP_SECRETS_FILE": str(path),
                                  "PGTASK_HTTP_ALLOW": "https://api.example.com/hooks/"})
    assert [s.key for s in config.secrets] == [b"n" * 32, b"o" * 32]
    assert [str(p) for p in config.allow] == ["https://api.example.com/hooks/"]
    with pytest.raises(pgtask.ConfigError, match="secrets file"):
        HttpConfig.from_env({"PGTASK_HTTP_SECRETS_FILE": str(tmp_path / "missing")})
    with pytest.raises(pgtask.ConfigError, match="webhook secret"):
        HttpConfig.from_env({"PGTASK_HTTP_SECRETS": "whsec_%%%"})


def test_latency_threshold_from_env():
    config = HttpConfig.from_env({"PGTASK_HTTP_LATENCY_THRESHOLD": "1.5"})
    assert config.aimd.latency_threshold == 1.5
    with pytest.raises(pgtask.ConfigError, match="seconds"):
        HttpConfig.from_env({"PGTASK_HTTP_LATENCY_THRESHOLD": "slow"})
