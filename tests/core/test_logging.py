from __future__ import annotations

import json
import logging

from daylock.logs import HumanFormatter, JsonFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.makeLogRecord({"name": "daylock.test", "levelname": "INFO", "msg": message})
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_the_environment_and_extras() -> None:
    line = JsonFormatter("staging").format(record("draw run", draw_id=7))
    payload = json.loads(line)
    assert payload["env"] == "staging"
    assert payload["message"] == "draw run"
    assert payload["draw_id"] == 7
    assert "\n" not in line


def test_human_lines_name_the_environment() -> None:
    assert "[development] INFO daylock.test: hello" in HumanFormatter("development").format(
        record("hello")
    )


def test_running_settings_follow_the_policy_table() -> None:
    from django.conf import settings

    from daylock.config import POLICIES

    policy = POLICIES[settings.DAYLOCK.app_env]
    assert settings.LOGGING["root"]["level"] == policy.log_level
    assert settings.LOGGING["handlers"]["stderr"]["formatter"] == policy.log_format
    assert settings.CACHES["default"]["KEY_PREFIX"] == f"daylock:{policy.name}"
