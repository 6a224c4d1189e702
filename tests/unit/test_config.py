from __future__ import annotations

import pytest

from adapters.http.routes import ROUTES
from adapters.ids import ID_LENGTH, RandomIds
from config import Config, ConfigError, describe_limits, listen_address, parse_config, parse_size, s3_location


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("1024", 1024), ("10K", 10240), ("10k", 10240), ("2M", 2 << 20), ("1G", 1 << 30),
    ("1T", 1 << 40), ("512KB", 512 << 10), ("512KiB", 512 << 10), (" 3m ", 3 << 20),
])
def test_sizes(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1", "1.5M", "M", "10X", "1e6", "١٢", "KB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_defaults() -> None:
    config = parse_config([], {})
    assert config == Config()
    assert (config.host, config.port, config.storage) == ("0.0.0.0", 8000, "./storage")
    assert config.max_upload_size == 1 << 30 and config.fsync


def test_flags_win_over_environment() -> None:
    config = parse_config(["--port", "9000", "--download-rate", "200K"],
                          {"UDS_PORT": "7000", "UDS_UPLOAD_RATE": "1M", "UDS_FSYNC": "never"})
    assert config.port == 9000
    assert config.download_rate == 200 << 10
    assert config.upload_rate == 1 << 20
    assert not config.fsync
    assert "204800 B/s per connection" in describe_limits(config)


@pytest.mark.parametrize("argv, env, needle", [
    (["--port", "70000"], {}, "--port"),
    ([], {"UDS_PORT": "x"}, "UDS_PORT (--port)"),
    (["--public-url", "ftp://x"], {}, "--public-url"),
    (["--public-url", "http://h/?q=1"], {}, "--public-url"),
    (["--log-level", "loud"], {}, "--log-level"),
    (["--body-timeout", "0"], {}, "--body-timeout"),
    (["--body-timeout", "nan"], {}, "--body-timeout"),
    (["--max-connections", "0"], {}, "--max-connections"),
    (["--fsync", "sometimes"], {}, "--fsync"),
    (["--host", " "], {}, "--host"),
])
def test_bad_values_name_the_flag(argv: list[str], env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(argv, env)
    assert needle in str(caught.value)


def test_public_url_is_normalised_and_wins_over_the_origin() -> None:
    config = parse_config(["--public-url", "https://files.example.com/base/"], {})
    assert config.public_url == "https://files.example.com/base"
    assert ROUTES.url("check", config.public_url, "abc") == "https://files.example.com/base/check/abc"
    assert ROUTES.url("download", "http://h:1", "abc") == "http://h:1/download/abc"


def test_ids_are_random_128_bit_and_validated_exactly() -> None:
    links = RandomIds()
    ids = {links.new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for new_id in ids:
        assert len(new_id) == ID_LENGTH and links.is_valid_id(new_id)
    sample = next(iter(ids))
    for bad in [sample.upper(), sample[:-1], sample + "a", "../" + sample[3:], sample[:-1] + "/", ""]:
        assert not links.is_valid_id(bad)


def test_an_empty_variable_counts_as_unset() -> None:
    assert parse_config([], {"UDS_PORT": "", "UDS_PUBLIC_URL": " ", "UDS_CORS_ORIGIN": ""}) == Config()


def test_cors_origins_repeat_as_flags_or_a_comma_separated_variable() -> None:
    config = parse_config(["--cors-origin", "https://App.example", "--cors-origin", "http://localhost:3000"], {})
    assert config.cors_origin == ("https://app.example", "http://localhost:3000")
    assert parse_config([], {"UDS_CORS_ORIGIN": "https://a.example, *"}).cors_origin == ("https://a.example", "*")
    for bad in ["ftp://a.example", "https://a.example/path", "a.example", "https://a.example,https://b"]:
        with pytest.raises(ConfigError) as caught:
            parse_config(["--cors-origin", bad], {})
        assert "--cors-origin" in str(caught.value)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(["--version"], {})
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("upload-download-service ")


@pytest.mark.parametrize("text, address", [
    ("127.0.0.1:9100", ("127.0.0.1", 9100)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_metrics_listen_is_host_and_port(text: str, address: tuple[str, int]) -> None:
    config = parse_config(["--metrics-listen", text], {})
    assert config.metrics_listen == text
    assert listen_address(text) == address
    assert parse_config([], {"UDS_METRICS_LISTEN": text}).metrics_listen == text
    assert parse_config([], {}).metrics_listen is None


@pytest.mark.parametrize("text", ["9100", ":9100", "127.0.0.1:", "127.0.0.1:99999", "::1:9100", "[::1]9100",
                                  "host:port"])
def test_a_bad_metrics_listen_names_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-listen"):
        parse_config(["--metrics-listen", text], {})


def test_storage_is_a_directory_or_an_s3_bucket_with_its_settings() -> None:
    assert not Config().s3 and parse_config([], {}).storage == "./storage"
    config = parse_config(["--storage", "s3://my-bucket/up/loads/", "--s3-endpoint", "http://127.0.0.1:8333/",
                           "--s3-addressing", "Virtual", "--s3-part-size", "16M"], {})
    assert config.s3 and s3_location(config.storage) == ("my-bucket", "up/loads/")
    assert (config.s3_endpoint, config.s3_addressing, config.s3_part_size) == (
        "http://127.0.0.1:8333", "virtual", 16 << 20)
    assert s3_location("s3://bucket") == ("bucket", "")
    for flag, bad in [("--storage", "s3://"), ("--storage", "s3://Bad_Bucket/x"), ("--storage", "s3://a/x"),
                      ("--storage", ""), ("--s3-endpoint", "ftp://h"), ("--s3-endpoint", "http://h/path"),
                      ("--s3-addressing", "dns"), ("--s3-part-size", "4M"), ("--s3-part-size", "6G")]:
        with pytest.raises(ConfigError) as caught:
            parse_config([flag, bad], {})
        assert flag in str(caught.value)
