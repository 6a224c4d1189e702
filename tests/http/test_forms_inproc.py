"""multipart/form-data uploads in-process (see tests/inproc.py): one file,
several, text fields, all or nothing on malformed or refused forms, limits
and speed limits over the whole body, in virtual time."""

from __future__ import annotations

import hashlib

from adapters.http.forms import FORM_OVERHEAD
from config import Config
from tests.fakes import MemoryStore
from tests.inproc import App, Pipe, Reply, run, settle

BOUNDARY = b"----form-boundary-7MA4YWxkTrZu0gW"


def field(name: str, value: bytes) -> bytes:
    return b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (BOUNDARY, name.encode(), value)


def file_part(filename: str, data: bytes, content_type: bytes = b"application/octet-stream",
              disposition_name: bytes | None = None) -> bytes:
    name = disposition_name if disposition_name is not None else b'filename="%s"' % filename.encode()
    return (b'--%s\r\nContent-Disposition: form-data; name="file"; %s\r\nContent-Type: %s\r\n\r\n%s\r\n'
            % (BOUNDARY, name, content_type, data))


def form(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (b"--%s--\r\n" % BOUNDARY if close else b"")


def post(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
            b"Content-Length: %d\r\n%s\r\n%s" % (BOUNDARY, len(body), extra, body))


async def send(app: App, data: bytes, seconds: float = 0.0) -> tuple[Pipe, list[Reply]]:
    pipe = app.connect()
    pipe.send(data)
    await settle(seconds)
    return pipe, pipe.replies()


def test_one_file_is_the_usual_answer() -> None:
    async def main() -> None:
        app = App()
        data = b"%PDF-1.4 hello\r\n--not the boundary\r\n" * 100
        _, [reply] = await send(app, post(form(file_part("x.pdf", data, b"application/pdf"))))
        assert reply.status == 201, reply
        answer = reply.json()
        assert answer["fileisuploaded"] == "x.pdf" and answer["size"] == len(data)
        assert answer["sha256"] == hashlib.sha256(data).hexdigest() and "files" not in answer
        assert answer["linkfordownloadnamed"] == "http://h/download/id-1/x.pdf"
        assert reply.headers["location"] == answer["linkfordownload"]
        stored, metadata = app.store.blobs["id-1"]
        assert stored == data and metadata["content_type"] == "application/pdf" and metadata["name"] == "x.pdf"

    run(main)


def test_several_files_and_text_fields() -> None:
    async def main() -> None:
        app = App()
        body = form(field("comment", b"ignored"), file_part("a.txt", b"first", b"text/plain"),
                    field("other", b"x" * 10_000), file_part("", b"", disposition_name=b'filename=""'),
                    file_part("", b"second", disposition_name=b"filename*=UTF-8''r%C3%A9sum%C3%A9.txt"))
        pipe, [reply] = await send(app, post(body))
        assert reply.status == 201, reply
        answer = reply.json()
        first, second = answer["files"]
        assert {key: answer[key] for key in first} == first  # the usual keys are the first file's
        assert (first["fileisuploaded"], first["size"]) == ("a.txt", 5)
        assert (second["fileisuploaded"], second["size"]) == ("résumé.txt", 6)
        assert second["linkfordownloadnamed"].endswith("/r%C3%A9sum%C3%A9.txt")
        assert {blob_id: data for blob_id, (data, _) in app.store.blobs.items()} == {
            first["id"]: b"first", second["id"]: b"second"}
        # The connection stays usable, and a text/plain answer lists every file.
        pipe.send(post(body, b"Accept: text/plain\r\n"))
        await settle()
        [text] = pipe.replies()
        lines = text.body.split(b"\n")
        assert text.status == 201 and lines[0::3] == [b"http://h/download/id-3", b"http://h/download/id-4", b""]
        assert lines[1].startswith(b"http://h/delete/id-3/") and lines[4].startswith(b"http://h/delete/id-4/")
        assert (lines[2], lines[5]) == (b"http://h/share/id-3", b"http://h/share/id-4")

    run(main)


def test_refused_forms_store_nothing() -> None:
    async def main() -> None:
        one = file_part("a.txt", b"first")
        cases = {
            "no file part": (form(field("a", b"b"), file_part("", b"", disposition_name=b'filename=""')), 400),
            "no final boundary": (form(one, file_part("b.txt", b"second"), close=False), 400),
            "cut inside a part": (form(one, close=False) + b"--%s\r\nContent-Disp" % BOUNDARY, 400),
            "part headers too large": (form(one, b"--%s\r\nX-Pad: %s\r\n" % (BOUNDARY, b"p" * 20_000)), 400),
            "part without a disposition": (form(one, b"--%s\r\nContent-Type: a/b\r\n\r\nx\r\n" % BOUNDARY), 400),
            "an empty file": (form(one, file_part("empty.txt", b"")), 400),
            "not a form at all": (b"just bytes", 400),
        }
        for what, (body, status) in cases.items():
            app = App()
            pipe, [reply] = await send(app, post(body))
            assert reply.status == status, (what, reply)
            assert reply.headers["content-type"] == "application/json", what
            assert not app.store.blobs and app.store.open_writers == 0, what

    run(main)


def test_a_bad_boundary_is_refused_before_the_body() -> None:
    async def main() -> None:
        for content_type in (b"multipart/form-data; boundary=" + b"b" * 71, b"multipart/form-data",
                             b"multipart/form-data; boundary=\"a{b\""):
            app = App()
            _, [reply] = await send(app, b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Type: %s\r\n"
                                         b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n" % content_type)
            assert reply.status == 400 and b"boundary" in reply.body, reply
            assert not app.store.blobs

    run(main)


def test_limits_per_file_and_on_the_whole_body() -> None:
    async def main() -> None:
        limit = 1000
        # A file over the limit after one that fits: 413, and the first is removed too.
        app = App(Config(max_upload_size=limit))
        _, [reply] = await send(app, post(form(file_part("ok", b"k" * limit), file_part("big", b"b" * (limit + 1)))))
        assert reply.status == 413 and not app.store.blobs, reply
        # A body over limit + FORM_OVERHEAD is refused from Content-Length, before 100 Continue.
        app = App(Config(max_upload_size=limit))
        head = (b"POST /upload/ HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\nExpect: 100-continue\r\n"
                b"Content-Type: multipart/form-data; boundary=%s\r\n\r\n" % (limit + FORM_OVERHEAD + 1, BOUNDARY))
        _, [reply] = await send(app, head)  # one reply: no 100 Continue before it
        assert reply.status == 413 and not app.store.blobs
        # Many small files fit one by one, but not together: the chunked body is cut at the limit.
        app = App(Config(max_upload_size=limit))
        body = form(*(file_part(f"{n}.bin", b"s" * 999) for n in range(FORM_OVERHEAD // 999 + 2)))
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 4096]), body[i:i + 4096])
                           for i in range(0, len(body), 4096)) + b"0\r\n\r\n"
        _, [reply] = await send(app, b"POST /upload/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                     b"Content-Type: multipart/form-data; boundary=%s\r\n\r\n%s" % (BOUNDARY, chunked))
        assert reply.status == 413 and not app.store.blobs, reply

    run(main)


def test_a_full_disk_removes_the_files_already_stored() -> None:
    async def main() -> None:
        app = App(store=MemoryStore(capacity=1500))
        _, [reply] = await send(app, post(form(file_part("a", b"a" * 1000), file_part("b", b"b" * 1000))))
        assert reply.status == 507 and not app.store.blobs, reply

    run(main)


def test_the_upload_rate_applies_to_the_whole_body() -> None:
    async def main() -> None:
        rate = 100 * 1024
        app = App(Config(upload_rate=rate))
        data = bytes(range(256)) * 2000  # 512,000 bytes of file in a text-field-padded form
        body = form(field("pad", b"p" * 100_000), file_part("f.bin", data))
        pipe = app.connect()
        pipe.send(post(body))
        burst = 64 * 1024
        expected = (len(body) - burst) / rate  # every body byte is paid for, text fields too
        await settle(expected - 0.5)
        assert pipe.replies() == []
        await settle(1.0)
        [reply] = pipe.replies()
        assert reply.status == 201 and app.store.blobs["id-1"][0] == data

    run(main)


def test_put_and_other_routes_do_not_parse_forms() -> None:
    async def main() -> None:
        app = App()
        body = form(file_part("a.txt", b"first"))
        _, [reply] = await send(app, post(body).replace(b"POST /upload/", b"PUT /upload/raw.bin", 1))
        assert reply.status == 201 and reply.json()["size"] == len(body)
        assert app.store.blobs["id-1"][0] == body

    run(main)


def test_the_result_does_not_depend_on_how_the_body_arrives() -> None:
    async def main() -> None:
        body = form(field("a", b"--%s" % BOUNDARY), file_part("x.bin", b"\r\n--%s-\r\n\r" % BOUNDARY),
                    file_part("y.bin", b"y" * 100))
        for step in (1, 2, 3, 7, 64):
            app = App()
            pipe = app.connect()
            request = post(body)
            for at in range(0, len(request), step):
                pipe.send(request[at:at + step])
                await settle()
            [reply] = pipe.replies()
            assert reply.status == 201, (step, reply)
            assert [f["size"] for f in reply.json()["files"]] == [len(BOUNDARY) + 8, 100], step
            assert app.store.blobs["id-1"][0] == b"\r\n--%s-\r\n\r" % BOUNDARY

    run(main)


def test_term_fields_before_the_first_file_set_its_expiry_and_download_limit() -> None:
    """A page's plain form (no JavaScript, so no headers) asks for terms with fields."""
    async def main() -> None:
        app = App()
        created = 1_700_001_000  # LoopClock.wall() when the virtual loop starts
        body = form(field("expires-in", b"1h"), field("max-downloads", b" 2 "), field("max-days", b""),
                    file_part("a.txt", b"first"), file_part("b.txt", b"second"), field("max-downloads", b"9"))
        _, [reply] = await send(app, post(body, b"Max-Downloads: 5\r\nExpires-In: 1d\r\n"))
        assert reply.status == 201, reply
        for answer in reply.json()["files"]:
            assert answer["downloads_left"] == 2  # the field wins over the header; the one after the files is late
        assert [record.expires for record in app.ledger.records.values()] == [created + 3600] * 2
        # A blank field leaves the header's term; no field at all, the headers' terms.
        _, [blank] = await send(app, post(form(field("max-downloads", b""), file_part("c.txt", b"c")),
                                          b"Max-Downloads: 4\r\n"))
        assert blank.json()["downloads_left"] == 4 and blank.json()["expires"] == "2023-11-21T22:30:00Z"

    run(main)


def test_bad_term_fields_are_refused_and_store_nothing() -> None:
    async def main() -> None:
        app = App()
        for name, value in ((b"max-downloads", b"0"), (b"expires-in", b"soon"), (b"max-days", b"9" * 65),
                            (b"max-downloads", "\u00e9".encode())):
            body = form(field(name.decode(), value), file_part("a.txt", b"first"))
            _, [reply] = await send(app, post(body))
            assert reply.status == 400, (name, value, reply)
            assert name.decode() in reply.json()["message"].lower(), reply.json()
        assert not app.store.blobs and not app.ledger.records

    run(main)
