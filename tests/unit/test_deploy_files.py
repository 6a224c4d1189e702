"""The deployment files name only real settings with valid values: a renamed
flag or a typo in a UDS_* variable would otherwise be ignored silently by the
container (unknown variables are not an error)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import OPTIONS, default_text, parse_config

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\bUDS_[A-Z_]+\b")
COMPOSE_SETTING = re.compile(r'^\s+(UDS_[A-Z_]+):\s*"([^"]*)"\s*$', re.MULTILINE)


@pytest.mark.parametrize("name", ["Dockerfile", "compose.yaml", "README.md"])
def test_every_uds_variable_is_the_twin_of_a_flag(name: str) -> None:
    used = set(VARIABLE.findall((ROOT / name).read_text()))
    known = {"UDS_" + option.upper() for option in OPTIONS}
    assert used, f"{name} names no UDS_* variable"
    assert used <= known, f"{name} names unknown settings: {sorted(used - known)}"


def test_compose_example_values_are_valid() -> None:
    settings = dict(COMPOSE_SETTING.findall((ROOT / "compose.yaml").read_text()))
    assert {"UDS_UPLOAD_RATE", "UDS_DOWNLOAD_RATE", "UDS_TOTAL_UPLOAD_RATE", "UDS_TOTAL_DOWNLOAD_RATE",
            "UDS_MAX_UPLOAD_SIZE", "UDS_PUBLIC_URL"} <= set(settings)
    config = parse_config([], settings)
    assert config.download_rate == 1 << 20 and config.total_download_rate == 10 << 20
    # Shown, but empty (= unset): links follow the Host header, not a hard-coded localhost that is
    # wrong as soon as the service is reached from another machine.
    assert settings["UDS_PUBLIC_URL"] == "" and config.public_url is None


def test_the_image_takes_flags_after_its_name() -> None:
    """`docker run IMAGE --download-rate 1M`: main.py is the entrypoint, and
    no CMD adds default arguments (HEALTHCHECK's CMD is not an instruction)."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert 'ENTRYPOINT ["python3", "main.py"]' in lines
    assert [line for line in lines if re.match(r"(CMD|ENTRYPOINT)\b", line)] == [
        'ENTRYPOINT ["python3", "main.py"]', "CMD []"]


def test_readme_configuration_table_lists_every_flag_with_its_real_default() -> None:
    rows = re.findall(r"^\| `--([a-z0-9-]+)` \| ([^|]+) \|", (ROOT / "README.md").read_text(), re.MULTILINE)
    table = {flag.replace("-", "_"): shown.strip().replace("`", "") for flag, shown in rows}
    assert set(table) == set(OPTIONS)
    for name in OPTIONS:
        assert table[name] == default_text(name), name
