"""gunicorn's error and access lines as JSON (api.gunicorn_logs), for gunicorn.conf.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from api.gunicorn_logs import (
    JSON_LOGGER,
    TEXT_ACCESS_LOG_FORMAT,
    TEXT_LOGGER,
    JsonLogger,
    logger_class_for,
)
from shared.settings import SettingsError


def test_the_logger_class_follows_chronos_log_format() -> None:
    assert logger_class_for({"CHRONOS_LOG_FORMAT": "json"}) == JSON_LOGGER
    assert logger_class_for({}) == TEXT_LOGGER
    assert logger_class_for({"CHRONOS_LOG_FORMAT": "text"}) == TEXT_LOGGER
    with pytest.raises(SettingsError):
        logger_class_for({"CHRONOS_LOG_FORMAT": "loud"})


def test_the_json_logger_is_importable_by_its_dotted_name() -> None:
    config = Config()
    config.set("logger_class", JSON_LOGGER)
    assert config.logger_class is JsonLogger


@pytest.fixture(autouse=True)
def close_gunicorn_handlers() -> Iterator[None]:
    """gunicorn's loggers are process-wide: each test closes the files it opened."""
    yield
    for name in ("gunicorn.error", "gunicorn.access"):
        log = logging.getLogger(name)
        for handler in log.handlers[:]:
            log.removeHandler(handler)
            handler.close()


def make_logger(tmp_path: Path) -> tuple[JsonLogger, Path, Path]:
    config = Config()
    error_log, access_log = tmp_path / "error.log", tmp_path / "access.log"
    config.set("errorlog", str(error_log))
    config.set("accesslog", str(access_log))
    return JsonLogger(config), error_log, access_log


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_error_lines_are_json(tmp_path: Path) -> None:
    logger, error_log, _ = make_logger(tmp_path)
    logger.info("Booting worker with pid: %s", 42)
    try:
        raise RuntimeError("worker crashed")
    except RuntimeError:
        logger.exception("Exception in worker process")
    booting, crashed = lines_of(error_log)
    assert booting["message"] == "Booting worker with pid: 42"
    assert booting["logger"] == "gunicorn.error"
    assert booting["level"] == "INFO"
    assert crashed["level"] == "ERROR"
    assert "RuntimeError: worker crashed" in crashed["exc_info"]


def test_an_access_line_is_json_with_the_request_id_and_no_credentials(tmp_path: Path) -> None:
    logger, _, access_log = make_logger(tmp_path)
    response = SimpleNamespace(
        status="404 Not Found",
        headers=[("Content-Type", "application/json"), ("X-Request-Id", "rid-7")],
        sent=92,
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/jobs/x",
        "QUERY_STRING": "cursor=secret-cursor",
        "RAW_URI": "/jobs/x?cursor=secret-cursor",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_AUTHORIZATION": "Bearer top-secret-token",
    }
    request = SimpleNamespace(headers=[("Authorization", "Bearer top-secret-token")])
    logger.access(response, request, environ, timedelta(milliseconds=12, microseconds=500))
    (line,) = lines_of(access_log)
    assert line["message"] == "GET /jobs/x 404"
    assert line["request_id"] == "rid-7"
    assert line["status"] == 404
    assert line["method"] == "GET"
    assert line["path"] == "/jobs/x"
    assert line["duration_ms"] == 12.5
    assert line["bytes"] == 92
    assert line["logger"] == "gunicorn.access"
    text = access_log.read_text()
    assert "top-secret-token" not in text
    assert "secret-cursor" not in text


def test_the_text_access_line_names_the_request(tmp_path: Path) -> None:
    config = Config()
    access_log = tmp_path / "access.log"
    config.set("accesslog", str(access_log))
    config.set("access_log_format", TEXT_ACCESS_LOG_FORMAT)
    response = SimpleNamespace(status="200 OK", headers=[("X-Request-Id", "rid-8")], sent=2)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/health",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    Logger(config).access(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    line = access_log.read_text().strip()
    assert line.endswith('"GET /health HTTP/1.1" 200 2 "-" "-" req=rid-8')
