"""List settings accept JSON or comma lists and reject anything else by name; the default data directory is the
per-user one, whatever the working directory (issue 16, points 5 and 6)."""
from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from shared.errors import ConfigError
from shared.settings import load_settings


@pytest.mark.parametrize("value, expected", [("5,30", [5.0, 30.0]), ("[5, 30]", [5.0, 30.0]), (" 1 , 2,3 ", [1, 2, 3])])
def test_retry_schedule_takes_comma_or_json_lists(monkeypatch, value, expected):
    monkeypatch.setenv("WOOFORCE_AGENT_RETRY_SCHEDULE_S", value)
    assert load_settings(_env_file=None).agent_retry_schedule_s == expected


@pytest.mark.parametrize("value, says", [
    ("abc", "valid number"), ("[5, x]", "JSON list"), ("", "at least 1 item"), ("5,-1", "zero or more"),
])
def test_a_wrong_retry_schedule_is_a_config_error_naming_it(monkeypatch, value, says):
    monkeypatch.setenv("WOOFORCE_AGENT_RETRY_SCHEDULE_S", value)
    with pytest.raises(ConfigError) as exc:
        load_settings(_env_file=None)
    assert "WOOFORCE_AGENT_RETRY_SCHEDULE_S: " in exc.value.message and says in exc.value.message


def test_alert_recipients_take_one_address_or_a_list(monkeypatch):
    monkeypatch.setenv("WOOFORCE_ALERT_EMAIL_TO", "ops@example.com")
    assert load_settings(_env_file=None).alert_email_to == ["ops@example.com"]
    monkeypatch.setenv("WOOFORCE_ALERT_EMAIL_TO", "ops@example.com, cto@example.com")
    assert load_settings(_env_file=None).alert_email_to == ["ops@example.com", "cto@example.com"]
    monkeypatch.setenv("WOOFORCE_ALERT_EMAIL_TO", '["ops@example.com"]')
    assert load_settings(_env_file=None).alert_email_to == ["ops@example.com"]
    monkeypatch.setenv("WOOFORCE_ALERT_EMAIL_TO", "ops")
    with pytest.raises(ConfigError, match=r"WOOFORCE_ALERT_EMAIL_TO: .*'ops' is not an email address"):
        load_settings(_env_file=None)


def test_default_data_dir_is_the_per_user_one_whatever_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("WOOFORCE_DATA_DIR", raising=False)
    expected = Path(platformdirs.user_data_dir("wooforce", appauthor=False))
    seen = set()
    for cwd in (tmp_path, tmp_path / "elsewhere"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        data_dir = load_settings(_env_file=None).data_dir
        assert data_dir.is_absolute()
        seen.add(data_dir)
    assert seen == {expected}
