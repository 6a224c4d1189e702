"""Loading web/: what is served (a flat allow-list of plain files with a
known type), what is not, the bounds, and the size shown on the pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import adapters.http.static as static
from adapters.http.pages import human_size
from adapters.http.static import StaticFiles, TooMuchWeb, content_type_of


def make_web(root: Path, files: dict[str, bytes]) -> Path:
    web = root / "web"
    web.mkdir()
    for name, body in files.items():
        path = web / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return web


def test_only_plain_files_with_a_known_type_directly_in_the_folder_are_served(tmp_path: Path) -> None:
    (tmp_path / "secret.css").write_bytes(b"outside")
    web = make_web(tmp_path, {"index.html": b"<p>", "app.css": b"a{}", "app.js": b";", "i.svg": b"<svg/>",
                              "p.png": b"\x89PNG", "favicon.ico": b"\0", "README.md": b"#", "notes.txt": b"t",
                              "sub/x.css": b"b{}", ".hidden.css": b"h{}", "space name.css": b"s{}",
                              "run.sh": b"echo"})
    os.symlink(tmp_path / "secret.css", web / "dir.css.d", target_is_directory=False)
    (web / "folder.css").mkdir()
    files = StaticFiles.load(web)
    assert files.names() == ["app.css", "app.js", "favicon.ico", "i.svg", "index.html", "p.png"]
    found = files.get("app.css")
    assert found is not None and found.body == b"a{}"
    assert dict(found.headers)["Content-Type"] == "text/css; charset=utf-8"
    for name in ("../secret.css", "sub/x.css", "sub%2Fx.css", "README.md", ".hidden.css", "APP.CSS", ""):
        assert files.get(name) is None, name


@pytest.mark.parametrize("name, expected", [
    ("index.html", "text/html; charset=utf-8"), ("a.CSS", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"), ("logo.svg", "image/svg+xml"), ("shot.png", "image/png"),
    ("x.md", None), ("html", None), (".css", None), ("a/b.css", None), ("a b.css", None), ("a%2e.css", None),
    ("..css", None), ("x" * 101 + ".css", None),
])
def test_content_types_by_name(name: str, expected: str | None) -> None:
    assert content_type_of(name) == expected


def test_the_folder_is_bounded(tmp_path: Path) -> None:
    web = make_web(tmp_path, {f"f{n}.css": b"x" * 100 for n in range(5)})
    assert len(StaticFiles.load(web, max_files=5, max_total=500).names()) == 5
    with pytest.raises(TooMuchWeb, match="more than 4 files"):
        StaticFiles.load(web, max_files=4)
    with pytest.raises(TooMuchWeb, match="exceed 499 bytes"):
        StaticFiles.load(web, max_total=499)


def test_the_folder_is_found_next_to_the_code_whatever_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert static.WEB_DIR == Path(static.__file__).resolve().parents[2] / "web"
    assert StaticFiles.load().get("index.html") is not None
    assert StaticFiles.load(tmp_path / "missing").names() == []


@pytest.mark.parametrize("size, shown", [
    (0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KiB"), (1536, "1.5 KiB"),
    (10 * 1024 + 100, "10.1 KiB"), (1_536_000, "1.46 MiB"), (200 << 20, "200 MiB"), (5 << 40, "5 TiB"),
    (3 << 60, "3072 PiB"),
])
def test_human_sizes(size: int, shown: str) -> None:
    assert human_size(size) == shown
