"""SigV4 against AWS's published signatures.

Sources of the expected values (copied, not computed here):
- the AWS Signature Version 4 test suite ("aws-sig-v4-test-suite"), as kept in
  github.com/awslabs/aws-c-auth under tests/aws-signing-test-suite/v4/<name>/
  (header-signed-request.txt and context.json): get-vanilla,
  get-vanilla-query-order-key-case, get-vanilla-query-unreserved, get-utf8,
  get-header-value-trim, get-vanilla-with-session-token,
  post-x-www-form-urlencoded. Credentials AKIDEXAMPLE /
  wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service",
  2015-08-30T12:36:00Z.
- the S3 examples of the Amazon S3 API reference, "Signature Calculations for
  the Authorization Header: Transferring Payload in a Single Chunk": GET
  Object (with Range), PUT Object, GET Bucket Lifecycle, GET Bucket (List
  Objects). Credentials AKIAIOSFODNN7EXAMPLE /
  wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, us-east-1, 2013-05-24T00:00:00Z.
And against botocore's own signer on a request of ours (boto3 is a pinned test
dependency).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest

from adapters.s3.sigv4 import EMPTY_SHA256, Credentials, canonical_request, sign, uri_encode

SUITE = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = datetime(2015, 8, 30, 12, 36, tzinfo=timezone.utc)
S3_DOCS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
S3_TIME = datetime(2013, 5, 24, tzinfo=timezone.utc)
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def suite_sign(method: str, path: str, params: list[tuple[str, str]], headers: dict[str, str],
               payload_hash: str = EMPTY_SHA256, credentials: Credentials = SUITE) -> dict[str, str]:
    return sign(method=method, host="example.amazonaws.com", path=path, params=params, headers=headers,
                payload_hash=payload_hash, credentials=credentials, region="us-east-1", service="service",
                now=SUITE_TIME)


@pytest.mark.parametrize("method, path, params, headers, signed, signature", [
    ("GET", "/", [], {}, "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),  # get-vanilla
    ("GET", "/", [("Param2", "value2"), ("Param1", "value1")], {}, "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),  # get-vanilla-query-order-key-case
    ("GET", "/", [(UNRESERVED, UNRESERVED)], {}, "host;x-amz-date",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),  # get-vanilla-query-unreserved
    ("GET", "/\u1234", [], {}, "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),  # get-utf8
    ("GET", "/", [], {"My-Header1": " value1", "My-Header2": ' "a   b   c"'}, "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),  # get-header-value-trim
])
def test_aws_signature_test_suite(method: str, path: str, params: list[tuple[str, str]], headers: dict[str, str],
                                  signed: str, signature: str) -> None:
    out = suite_sign(method, path, params, headers)
    assert out["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}")
    assert out["X-Amz-Date"] == "20150830T123600Z" and out["Host"] == "example.amazonaws.com"


def test_suite_session_token_is_sent_and_signed() -> None:
    token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
    out = suite_sign("GET", "/", [], {}, credentials=Credentials(SUITE.access_key, SUITE.secret_key, token))
    assert out["X-Amz-Security-Token"] == token
    assert out["Authorization"].endswith(
        "SignedHeaders=host;x-amz-date;x-amz-security-token, "
        "Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")


def test_suite_post_x_www_form_urlencoded_with_signed_payload() -> None:
    body = b"Param1=value1"
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    out = suite_sign("POST", "/", [], {"Content-Type": "application/x-www-form-urlencoded",
                                       "Content-Length": "13", "x-amz-content-sha256": digest}, digest)
    assert out["Authorization"].endswith(
        "SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, "
        "Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b")


def s3_sign(method: str, path: str, params: list[tuple[str, str]], headers: dict[str, str],
            payload_hash: str = EMPTY_SHA256) -> str:
    headers = {**headers, "x-amz-content-sha256": payload_hash}
    out = sign(method=method, host="examplebucket.s3.amazonaws.com", path=path, params=params, headers=headers,
               payload_hash=payload_hash, credentials=S3_DOCS, region="us-east-1", service="s3", now=S3_TIME)
    assert out["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ")
    return out["Authorization"].split(", ", 1)[1]


def test_s3_documented_get_object_with_range() -> None:
    assert s3_sign("GET", "/test.txt", [], {"Range": "bytes=0-9"}) == (
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_s3_documented_put_object_encodes_the_dollar_in_the_key() -> None:
    body = b"Welcome to Amazon S3."
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    headers = {"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"}
    assert s3_sign("PUT", "/test$file.text", [], headers, digest) == (
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")


def test_s3_documented_bucket_requests_with_queries() -> None:
    assert s3_sign("GET", "/", [("lifecycle", "")], {}).endswith(
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    assert s3_sign("GET", "/", [("prefix", "J"), ("max-keys", "2")], {}).endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_paths_are_encoded_once_keeping_slashes() -> None:
    assert uri_encode("/a b/ü+x=y&z", keep_slash=True) == "/a%20b/%C3%BC%2Bx%3Dy%26z"
    assert uri_encode("a/b", keep_slash=False) == "a%2Fb"
    request, _ = canonical_request("GET", "/b/k y", [("uploadId", "a/b+c")], {"Host": "h"}, EMPTY_SHA256)
    assert request.splitlines()[1:3] == ["/b/k%20y", "uploadId=a%2Fb%2Bc"]


def test_same_signature_as_botocore() -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    body = b"part of a blob"
    digest = hashlib.sha256(body).hexdigest()
    request = AWSRequest(method="PUT", url="http://127.0.0.1:8333/bucket/up/n%C3%A4me%20x?partNumber=3&uploadId=a%2Bb",
                         data=body, headers={"x-amz-meta-name": "abc", "Content-Length": str(len(body)),
                                             "x-amz-content-sha256": digest})
    S3SigV4Auth(BotoCredentials("AK", "SK", "TOKEN"), "s3", "eu-west-3").add_auth(request)
    # botocore reads the clock itself: sign for the same second it chose.
    now = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    ours = sign(method="PUT", host="127.0.0.1:8333", path="/bucket/up/n\u00e4me x",
                params=[("partNumber", "3"), ("uploadId", "a+b")],
                headers={"x-amz-meta-name": "abc", "Content-Length": str(len(body)), "x-amz-content-sha256": digest},
                payload_hash=digest, credentials=Credentials("AK", "SK", "TOKEN"), region="eu-west-3", service="s3",
                now=now)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == request.headers["X-Amz-Security-Token"] == "TOKEN"
