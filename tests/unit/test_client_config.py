"""The settings of clients and abuse control: trusted proxies, request and
connection limits per client, per-client rates, upload tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Config, ConfigError, describe_limits, parse_config

TOKEN = "k7Qx-9vVn2_LrT8mZp4wYb"


def test_defaults_turn_everything_off() -> None:
    config = parse_config([], {})
    assert (config.trusted_proxy, config.proxy_headers, config.requests_per_minute, config.max_connections_per_ip,
            config.client_upload_rate, config.client_download_rate, config.upload_tokens) == (
        (), "x-forwarded", 0, 0, 0, 0, ())


def test_flags_and_variables() -> None:
    config = parse_config(
        ["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "2001:DB8::/32", "--trusted-proxy", "127.0.0.1",
         "--proxy-headers", "Forwarded", "--requests-per-minute", "600", "--client-download-rate", "1M"],
        {"UDS_MAX_CONNECTIONS_PER_IP": "8", "UDS_CLIENT_UPLOAD_RATE": "512K",
         "UDS_UPLOAD_TOKEN": f"{TOKEN}, other-token-0123456789"})
    assert config.trusted_proxy == ("10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32")
    assert config.proxy_headers == "forwarded"
    assert (config.requests_per_minute, config.max_connections_per_ip) == (600, 8)
    assert (config.client_upload_rate, config.client_download_rate) == (512 << 10, 1 << 20)
    assert config.upload_tokens == (TOKEN, "other-token-0123456789")
    assert "524288 B/s per client" in describe_limits(config) and "uploads need a token" in describe_limits(config)
    assert parse_config(["--trusted-proxy", "::1"], {}).trusted_proxy == ("::1/128",)


@pytest.mark.parametrize("argv", [
    ["--trusted-proxy", "10.1.2.3/8"], ["--trusted-proxy", "example.com"], ["--trusted-proxy", "10.0.0.0/33"],
    ["--proxy-headers", "x-real-ip"], ["--requests-per-minute", "-1"], ["--requests-per-minute", "1.5"],
    ["--max-connections-per-ip", "many"], ["--client-download-rate", "fast"],
])
def test_bad_values_name_the_flag(argv: list[str]) -> None:
    with pytest.raises(ConfigError, match=argv[0]):
        parse_config(argv, {})


@pytest.mark.parametrize("token", ["short", "has space 0123456789", "comma,0123456789abcdef", "x" * 1025,
                                   "tab\t0123456789abcdef"])
def test_bad_tokens_are_refused_without_being_echoed(token: str) -> None:
    with pytest.raises(ConfigError, match="--upload-token") as info:
        parse_config(["--upload-token", token], {})
    assert token not in str(info.value)


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# uploaders\n\n  {TOKEN}  \nsecond-token-0123456789\n")
    config = parse_config(["--upload-token-file", str(path), "--upload-token", "third-token-0123456789"], {})
    assert config.upload_tokens == ("third-token-0123456789", TOKEN, "second-token-0123456789")
    # Secrets never show in a repr (nor, so, in any log line made of one).
    assert TOKEN not in repr(config) and "third-token" not in repr(config)
    assert config == Config(upload_token=("third-token-0123456789",),
                            upload_token_file=(TOKEN, "second-token-0123456789"))


@pytest.mark.parametrize("content, needle", [
    ("# nothing\n\n", "holds no token"),
    ("ok-token-0123456789abc\nbad token here 0123\n", "line 2"),
    (b"\xff\xfe", "cannot read"),
])
def test_bad_token_files(tmp_path: Path, content: str | bytes, needle: str) -> None:
    path = tmp_path / "tokens"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as info:
        parse_config(["--upload-token-file", str(path)], {})
    assert "bad token here" not in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        parse_config(["--upload-token-file", str(tmp_path / "missing")], {})
