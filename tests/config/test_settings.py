"""Settings: `.env.example` documents every variable, and bad values stop a process clearly."""

from __future__ import annotations

import importlib.util
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from facegrid_common.images import DEFAULT_MAX_PIXELS
from harness import API_DIR, PYTHON, REPO, WORKER_DIR, _base_env

KEY, TOKEN = secrets.token_urlsafe(24), secrets.token_urlsafe(24)


def _settings_class(path: Path, class_name: str, module_name: str) -> Any:
    # Loaded by path: both apps call their package `app`, so they cannot share one import.
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def _api_settings() -> Any:
    return _settings_class(API_DIR / "app" / "config.py", "Settings", "api_config")


def _worker_settings() -> Any:
    return _settings_class(WORKER_DIR / "app" / "config.py", "WorkerSettings", "worker_config")


def test_env_example_documents_every_setting_and_nothing_else():
    documented = set(dotenv_values(REPO / ".env.example"))
    api = {name.upper() for name in _api_settings().model_fields}
    worker = {name.upper() for name in _worker_settings().model_fields}
    assert documented == api | worker
    assert not {"WORKER_HTTP_PORT", "USE_ENHANCED_WORKER"} & documented


def test_both_apps_default_to_the_one_pixel_limit():
    for settings in (_api_settings(), _worker_settings()):
        assert settings.model_fields["max_image_pixels"].default == DEFAULT_MAX_PIXELS
    assert dotenv_values(REPO / ".env.example")["MAX_IMAGE_PIXELS"] == str(DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize(
    ("app_dir", "env", "message"),
    [
        (API_DIR, {"API_KEY": "", "WORKER_TOKEN": "t" * 20}, "API_KEY is not set"),
        (
            API_DIR,
            {"API_KEY": "changeme-changeme-123", "WORKER_TOKEN": "t" * 20},
            "API_KEY looks like a placeholder",
        ),
        (API_DIR, {"API_KEY": "k" * 20, "WORKER_TOKEN": "t" * 20, "API_PORT": "http"}, "API_PORT"),
        (
            API_DIR,
            {"API_KEY": KEY, "WORKER_TOKEN": TOKEN, "MAX_UPLOAD_MB": "32"},
            "MAX_UPLOAD_MB: must be at most 31",
        ),
        (
            API_DIR,
            {"API_KEY": KEY, "WORKER_TOKEN": TOKEN, "MAX_IMAGE_PIXELS": "100000001"},
            "MAX_IMAGE_PIXELS: must be at most 100,000,000",
        ),
        (
            WORKER_DIR,
            {"WORKER_TOKEN": TOKEN, "MAX_IMAGE_PIXELS": "200000000"},
            "MAX_IMAGE_PIXELS: must be at most",
        ),
        (WORKER_DIR, {"WORKER_TOKEN": ""}, "WORKER_TOKEN is not set"),
        (WORKER_DIR, {"WORKER_TOKEN": "t" * 20, "API_URL": "ftp://x"}, "API_URL must start with"),
    ],
)
def test_bad_configuration_exits_2_naming_the_variable(app_dir, env, message, tmp_path):
    env = _base_env(DATA_DIR=str(tmp_path), **env)
    done = subprocess.run(
        [PYTHON, "-m", "app.main"], cwd=app_dir, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_freshly_generated_secrets_are_always_accepted():
    spec = importlib.util.spec_from_file_location("api_config_secrets", API_DIR / "app" / "config.py")
    assert spec and spec.loader
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    for _ in range(20_000):  # what scripts/run.sh and the tests generate
        secret = secrets.token_urlsafe(32)
        assert config._check_secret("API_KEY", secret) == secret
    for placeholder in ("changeme-please-123", "my-password-is-long", "aaaaaaaaaaaaaaaaaaaa"):
        with pytest.raises(ValueError, match="placeholder"):
            config._check_secret("API_KEY", placeholder)
