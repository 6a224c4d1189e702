"""Describes the machine and the tools of a run, for the report's header."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def disk_of(path: Path) -> str:
    found = _run(["findmnt", "-no", "SOURCE,FSTYPE", "-T", str(path)]).split()
    if len(found) < 2:
        return "unknown"
    source, fstype = found[0], found[1]
    rotational = ""
    device = Path(source).name
    for candidate in (device, re.sub(r"p?\d+$", "", device)):
        flag = Path(f"/sys/block/{candidate}/queue/rotational")
        if flag.exists():
            rotational = ", rotational" if flag.read_text().strip() == "1" else ", non-rotational"
            break
    usage = shutil.disk_usage(path)
    return f"{source} ({fstype}{rotational}, {usage.total / 2**30:.0f} GiB, {usage.free / 2**30:.0f} GiB free)"


def machine(workdir: Path, service_python: str) -> list[tuple[str, str]]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        ("CPU", f"{cpu_model()}, {os.cpu_count()} cores"),
        ("Memory", f"{memory:.0f} GiB"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python (service)", _run([service_python, "--version"]).replace("Python ", "") or "unknown"),
        ("Disk (work directory)", disk_of(workdir)),
    ]


def versions() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for package in ("aiohttp", "uvicorn", "starlette", "httptools", "uploadserver", "copyparty", "py-spy"):
        try:
            found.append((package, metadata.version(package)))
        except metadata.PackageNotFoundError:
            found.append((package, "not installed"))
    nginx = re.search(r"nginx/(\S+)", _run(["nginx", "-v"]))
    wrk = re.search(r"wrk (\S+)", _run(["wrk", "-v"]))
    curl = re.search(r"curl (\S+)", _run(["curl", "--version"]))
    found += [("nginx", nginx.group(1) if nginx else "unknown"), ("wrk", wrk.group(1) if wrk else "unknown"),
              ("curl", curl.group(1) if curl else "unknown")]
    return found
