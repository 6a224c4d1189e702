"""The bounded fuzz run of the multipart/form-data parser in the test suite (a
few seconds). The long, coverage-guided run is
``python -m tests.fuzz.multipart_fuzz --minutes 10``."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.multipart_streams import cut_lists, fragments, max_datas, mutated
from tests.fuzz.multipart_target import FUZZ_BOUNDARIES, check, check_encoded

SMOKE = settings(max_examples=400, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SMOKE
@given(body=mutated(), cuts=cut_lists, max_data=max_datas)
def test_mutated_forms_mean_the_same_however_they_are_cut(
        body: tuple[bytes, bytes], cuts: list[int], max_data: int) -> None:
    boundary, data = body
    check(boundary, data, cuts, max_data)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, bytes]:
    boundary = draw(st.sampled_from(FUZZ_BOUNDARIES))
    pieces = fragments(boundary) + [
        b"--" + boundary + b"\r\n", b"\r\n--" + boundary + b"--", b"Content-Disposition: form-data; name=a\r\n",
        b'Content-Disposition: form-data; name="f"; filename="x"\r\n', b"Content-Type: text/plain\r\n",
        b"X: y\r\n", b"\r\n\r\n", b"\x00",
    ]
    return boundary, b"".join(draw(st.lists(st.sampled_from(pieces) | st.binary(max_size=8), max_size=30)))


@SMOKE
@given(body=streams(), cuts=cut_lists, max_data=max_datas)
def test_arbitrary_streams_mean_the_same_however_they_are_cut(
        body: tuple[bytes, bytes], cuts: list[int], max_data: int) -> None:
    boundary, data = body
    check(boundary, data, cuts, max_data)


@SMOKE
@given(st.binary(max_size=300))
def test_arbitrary_fuzzer_inputs(blob: bytes) -> None:
    check_encoded(blob)
