"""The HTTP transport's flags: issue-5 defaults, UDS_* twins, bad values
refused. (The e2e tests run each flag with small values to prove it is
wired through to the transport.)"""

from __future__ import annotations

import pytest

from adapters.http.connection import TransportConfig
from config import Config, ConfigError, parse_config

HTTP_FLAGS = ("header_timeout", "keepalive_timeout", "body_timeout", "max_connections", "shutdown_timeout")


def test_defaults_are_the_documented_ones_and_the_transport_agrees() -> None:
    config = parse_config([], {})
    assert (config.header_timeout, config.keepalive_timeout, config.body_timeout,
            config.max_connections, config.shutdown_timeout) == (10.0, 15.0, 60.0, 1024, 30.0)
    transport = TransportConfig()
    for name in HTTP_FLAGS:
        assert getattr(transport, name) == getattr(Config(), name), name


def test_flags_and_environment_twins() -> None:
    config = parse_config(["--header-timeout", "1.5", "--max-connections", "7"],
                          {"UDS_KEEPALIVE_TIMEOUT": "2", "UDS_BODY_TIMEOUT": "3", "UDS_SHUTDOWN_TIMEOUT": "4",
                           "UDS_HEADER_TIMEOUT": "99"})
    assert (config.header_timeout, config.keepalive_timeout, config.body_timeout,
            config.max_connections, config.shutdown_timeout) == (1.5, 2.0, 3.0, 7, 4.0)


@pytest.mark.parametrize("flag, value", [
    ("--header-timeout", "0"), ("--header-timeout", "-1"), ("--keepalive-timeout", "inf"),
    ("--shutdown-timeout", "soon"), ("--max-connections", "-5"), ("--max-connections", "1.5"),
])
def test_bad_values_are_refused_naming_the_flag(flag: str, value: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        parse_config([flag, value], {})
