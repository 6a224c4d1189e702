"""The sha256 in the answers of the real process, whose uploads are hashed
beside the event loop (adapters/hashing.py) when it may use two CPUs or more,
and on the loop when pinned to one: a body of several hashing blocks sent in
odd pieces, raw, as a form, and by tus across appends, each answers
hashlib's sha256 of the bytes."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import requests

from tests.e2e.conftest import ServiceFactory

pytestmark = pytest.mark.e2e

SIZE = 3 * (1 << 20) + 4093  # three hashing blocks and an odd tail


def send_in_odd_pieces(port: int, head: bytes, body: bytes) -> bytes:
    """One request whose body goes out in writes of odd sizes; the answer."""
    sizes = [1, 2047, 2049, 65537, 300_001, 999_983]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        at, i = 0, 0
        while at < len(body):
            size = sizes[i % len(sizes)]
            sock.sendall(body[at:at + size])
            at, i = at + size, i + 1
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer


@pytest.mark.parametrize("pinned", [False, True], ids=["all-cpus", "one-cpu"])
def test_raw_form_and_tus_uploads_answer_hashlibs_sha256(make_service: ServiceFactory, pinned: bool) -> None:
    data = os.urandom(SIZE)
    expected = hashlib.sha256(data).hexdigest()
    if pinned:  # the service inherits the affinity it starts with, and chooses how to hash from it
        everything = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(everything)})
        try:
            service = make_service()
        finally:
            os.sched_setaffinity(0, everything)
    else:
        service = make_service()
    answer = send_in_odd_pieces(service.port, f"PUT /upload/raw.bin HTTP/1.1\r\nHost: x\r\n"
                                f"Content-Length: {SIZE}\r\n\r\n".encode(), data)
    assert f'"sha256": "{expected}"'.encode() in answer, answer[:300]

    form = requests.post(service.url + "/upload/", files={"file": ("f.bin", data)}, timeout=30)
    assert form.status_code == 201 and form.json()["sha256"] == expected

    created = requests.post(service.url + "/files/", timeout=10,
                            headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(SIZE)})
    assert created.status_code == 201
    target = service.url + "/files/" + created.headers["Location"].rsplit("/", 1)[1]
    for start, end in ((0, 1_500_001), (1_500_001, SIZE)):
        patched = requests.patch(target, data=data[start:end], timeout=30, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": str(start),
            "Content-Type": "application/offset+octet-stream"})
        assert patched.status_code == 204
    assert requests.get(target, timeout=10).json()["sha256"] == expected
