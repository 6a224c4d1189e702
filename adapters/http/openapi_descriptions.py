"""What each route takes and answers, for the OpenAPI document
(``adapters/http/openapi.py`` puts it together with the route table).

``DESCRIPTIONS`` maps a route's name to its forms (``PATTERN``: the route's
pattern; ``BARE``: the prefix a bare route also serves) and, for each, its
methods' ``Operation``s. A new route needs an entry here (the tests fail
without one), e.g.::

    "version": {PATTERN: {"GET": Operation("The service's version", {200: Answer("the version", TEXT)})}},

Schemas name the JSON keys the answers have (``adapters/http/answers.py``,
``routes.py``, ``tus.py``, ``errors.py``); objects allow no other key, so a
key added to an answer without being added here fails the schemathesis run
(tests/e2e/test_openapi.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PATTERN = "pattern"
BARE = "bare"

Schema = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    description: str
    content: dict[str, Any] | None = None  # media type -> {"schema": ...}; None: no body
    headers: dict[str, Any] = field(default_factory=dict)
    links: dict[str, Any] = field(default_factory=dict)  # OpenAPI links: what to call next with this answer


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, Answer]
    parameters: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None  # the OpenAPI requestBody
    description: str = ""
    security: list[dict[str, list[str]]] | None = None


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_of(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def error(description: str, **headers: Any) -> Answer:
    return Answer(description, json_of(ref("Error")), headers)


def header(name: str, description: str, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": {"type": "string", **schema}}


def response_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


def closed(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    """An object with exactly these keys (those in ``optional`` may be missing)."""
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "required": [name for name in properties if name not in optional]}


STRING: Schema = {"type": "string"}
COUNT: Schema = {"type": "integer", "minimum": 0}
URL: Schema = {"type": "string", "format": "uri"}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
WHEN: Schema = {"type": ["string", "null"], "format": "date-time"}
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
TEXT = {"text/plain": {"schema": STRING}}
HTML = {"text/html": {"schema": STRING}}

STORED = {  # the keys of a stored file in every upload answer (tus's finished upload has these nine)
    "status": {"type": "integer"}, "fileisuploaded": STRING, "linkforcheck": URL, "linkfordownload": URL,
    "linkfordownloadnamed": URL, "linkforshare": URL, "id": STRING, "size": COUNT, "sha256": SHA256,
}
UPLOADED = {**STORED, "linkfordelete": URL, "deletetoken": STRING, "expires": WHEN,
            "downloads_left": {"type": ["integer", "null"], "minimum": 0}}

SCHEMAS: dict[str, Schema] = {
    "Error": closed({"status": {"type": "integer"}, "message": STRING, "file": STRING}, optional=("file",)),
    "Uploaded": closed(UPLOADED),
    "Upload": closed({**UPLOADED, "files": {"type": "array", "items": ref("Uploaded")}}, optional=("files",)),
    "Check": closed({"status": {"const": 200}, "file": STRING, "message": STRING, "id": STRING, "size": COUNT,
                     "sha256": SHA256, "created": {"type": "string", "format": "date-time"}, "expires": WHEN,
                     "downloads_left": {"type": ["integer", "null"], "minimum": 0}}),
    "Health": closed({"status": {"const": 200}, "message": STRING}),
    "TusProgress": closed({"status": {"const": 200}, "message": STRING, "id": STRING,
                           "file": {"type": ["string", "null"]}, "offset": COUNT,
                           "length": {"type": ["integer", "null"], "minimum": 0},
                           "expires": {"type": "string", "format": "date-time"}}),
    "TusFinished": closed(STORED),
    "OpenApi": {"type": "object", "required": ["openapi", "info", "paths"]},
}

# Refusals the transport may answer to any request, before a route sees it.
COMMON_ERRORS: dict[int, Answer] = {
    400: error("a malformed request line, header or body"),
    408: error("the request head or body came too slowly"),
    414: error("the request line is too long"),
    417: error("an Expect other than 100-continue"),
    429: error("more requests than --requests-per-minute from this client", **{"Retry-After": response_header(
        "seconds")}),
    431: error("the header section is too large"),
    503: error("the server is busy (too many connections) or the storage cannot serve now",
               **{"Retry-After": response_header("seconds")}),
    505: error("an HTTP version other than 1.x"),
}

PARAMETERS = {
    "id": "the file's id (from the upload answer)",
    "name": "the file's name (under /web/: a file of the page)",
    "token": "the delete token of the upload answer",
}

NOT_FOUND = error('no such file (unknown, expired, used up or deleted): {"status": 404, "file": id, "message"}')
TERMS = (
    header("Expires-In", "the file's life, e.g. 7d, 12h, 30m or seconds (clamped to --max-ttl)"),
    header("Max-Days", "the file's life in days"),
    header("Max-Downloads", "downloads after which the file is gone"),
)
RAW_BODY: dict[str, Any] = {"required": True, "content": BINARY}
# POST takes a form too (PUT stores any body as it is, a form's included).
FORM_OR_RAW_BODY = {"required": True, "content": {
    **RAW_BODY["content"],
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"},
        **{term: {"type": "string", "description": f"as the {term.title()} header (a non-empty field wins)"}
           for term in ("expires-in", "max-days", "max-downloads")}}, "required": ["file"]}},
}}
# What an upload answer leads to (schemathesis's stateful phase follows these).
FILE_ID = "$response.body#/id"
UPLOAD_LINKS = {
    "check": {"operationId": "check_get", "parameters": {"id": FILE_ID}},
    "download": {"operationId": "download_get", "parameters": {"id": FILE_ID}},
    "download_named": {"operationId": "download_named_get",
                       "parameters": {"id": FILE_ID, "name": "$response.body#/fileisuploaded"}},
    "delete": {"operationId": "delete_delete",
               "parameters": {"id": FILE_ID, "token": "$response.body#/deletetoken"}},
    "delete_with_header": {"operationId": "download_delete",
                           "parameters": {"id": FILE_ID, "header.X-Delete-Token": "$response.body#/deletetoken"}},
}
UPLOAD = Operation(
    "Upload a file (the raw body, or every file of a multipart/form-data form with POST)",
    {
        201: Answer("stored: its links; text/plain (the links, one a line) or text/html (a page with them, for"
                    " a browser's form) when Accept prefers it", {**json_of(ref("Upload")), **TEXT, **HTML},
                    {"Location": response_header("the download link"),
                     "X-Url-Delete": response_header("the delete link")}, UPLOAD_LINKS),
        400: error("an empty upload, a bad Expires-In, Max-Days or Max-Downloads, Content-Range, a malformed form"),
        401: error("--upload-token is set and no valid Authorization: Bearer token was sent",
                   **{"WWW-Authenticate": response_header("Bearer")}),
        411: error("neither Content-Length nor chunked"),
        413: error("larger than --max-upload-size"),
        507: error("not enough storage space, or --max-storage would be exceeded"),
    },
    (header("Content-Disposition", 'the name: attachment; filename="x.pdf"'),
     header("Content-Type", "the file's type (multipart/form-data: a form)"), *TERMS,
     header("Accept", "text/plain for the links as text")),
    FORM_OR_RAW_BODY,
    security=[{}, {"uploadToken": []}],
)
PUT = Operation("Upload the body as one file", UPLOAD.responses, UPLOAD.parameters, RAW_BODY,
                security=UPLOAD.security)
NAMED = {404: error("a name the service uses as a path"), 405: error("a path the service serves otherwise")}
POST_NAMED = Operation(UPLOAD.summary + ", named by the path", {**UPLOAD.responses, **NAMED}, UPLOAD.parameters,
                       UPLOAD.body, security=UPLOAD.security)
PUT_NAMED = Operation(PUT.summary + ", named by the path", {**UPLOAD.responses, **NAMED}, UPLOAD.parameters,
                      RAW_BODY, security=UPLOAD.security)
DOWNLOAD = Operation(
    "Download the file's bytes (HEAD: its headers)",
    {
        200: Answer("the bytes", BINARY, {
            "Content-Disposition": response_header("attachment; filename=..."),
            "ETag": response_header("the strong ETag (from the sha256)"),
            "Last-Modified": response_header("when it was uploaded")}),
        206: Answer("the requested range", BINARY, {"Content-Range": response_header("bytes a-b/size")}),
        304: Answer("If-None-Match matched"),
        404: NOT_FOUND,
        416: error("the range is not satisfiable", **{"Content-Range": response_header("bytes */size")}),
        503: error("every download left of a Max-Downloads file is in progress",
                   **{"Retry-After": response_header("seconds")}),
    },
    (header("Range", "one byte range: bytes=a-b, a- or -n"), header("If-Range", "an ETag or HTTP date"),
     header("If-None-Match", "ETags")),
)
DELETED = Answer("deleted: the links are gone at once")
TUS_RESUMABLE = header("Tus-Resumable", "the tus protocol version", required=True, enum=["1.0.0"])
TUS_ERRORS = {
    404: error("no such upload (or the store keeps no resumable uploads)"),
    412: error("Tus-Resumable: 1.0.0 is missing", **{"Tus-Version": response_header("1.0.0")}),
}
TUS_STATE = {"Upload-Offset": response_header("bytes received"),
             "Upload-Check-Link": response_header("once finished: the file's check link"),
             "Upload-Download-Link": response_header("once finished: its download link"),
             "Upload-Share-Link": response_header("once finished: its share page"),
             "Upload-Delete-Link": response_header("to the request that finished it only: its delete link"),
             "Upload-Expires": response_header("when an unfinished upload is removed")}
TUS_OPTIONS = Operation("tus capabilities", {204: Answer(
    "the tus versions, extensions, checksums and maximum size", None, {
        "Tus-Version": response_header("1.0.0"), "Tus-Extension": response_header("the extensions"),
        "Tus-Checksum-Algorithm": response_header("sha1,sha256,md5")})})
TUS_DATA = {"required": False, "content": {
    "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
TUS_APPEND_ERRORS = {
    403: error("the upload is finished"),
    409: error("Upload-Offset is not the server's offset"),
    413: error("past the upload's length or --max-upload-size"),
    415: error("the body is not application/offset+octet-stream"),
    423: error("another request is appending to this upload"),
    460: error("Upload-Checksum does not match the data"),
    507: error("not enough storage space"),
}

DESCRIPTIONS: dict[str, dict[str, dict[str, Operation]]] = {
    "upload": {
        BARE: {"POST": UPLOAD, "PUT": PUT},
        PATTERN: {"POST": POST_NAMED, "PUT": PUT_NAMED},
    },
    "check": {PATTERN: {"GET": Operation("The file's name, size, sha256 and life",
                                         {200: Answer("ready to download", json_of(ref("Check"))), 404: NOT_FOUND})}},
    "download": {PATTERN: {
        "GET": DOWNLOAD,
        "DELETE": Operation("Delete the file with its delete token", {
            204: DELETED, 401: error("no X-Delete-Token", **{"WWW-Authenticate": response_header("X-Delete-Token")}),
            403: error("a wrong token"), 404: NOT_FOUND,
        }, (header("X-Delete-Token", "the deletetoken of the upload answer"),)),
    }},
    "download_named": {PATTERN: {"GET": Operation(DOWNLOAD.summary + " under a URL ending with its name",
                                                  DOWNLOAD.responses, DOWNLOAD.parameters)}},
    "delete": {PATTERN: {"DELETE": Operation("Delete the file (its linkfordelete)", {
        204: DELETED, 403: error("a wrong token"), 404: NOT_FOUND})}},
    "health": {PATTERN: {"GET": Operation("Whether the storage could take an upload now", {
        200: Answer("it could", json_of(ref("Health"))),
        503: error("it could not: the reason", **{"Retry-After": response_header("seconds")}),
    })}},
    "upload_at_root": {BARE: {"PUT": PUT}, PATTERN: {"PUT": PUT_NAMED}},
    "tus": {
        BARE: {
            "OPTIONS": TUS_OPTIONS,
            "POST": Operation("Create a resumable upload (tus creation, creation-with-upload)", {
                201: Answer("created: its URL", None, {"Location": response_header("the upload's URL"), **TUS_STATE}),
                400: error("bad Upload-Length, Upload-Defer-Length, Upload-Metadata or Upload-Checksum"),
                401: UPLOAD.responses[401],
                **TUS_ERRORS, **TUS_APPEND_ERRORS,
            }, (TUS_RESUMABLE, header("Upload-Length", "the total size"),
                header("Upload-Defer-Length", "1: the size is told later", enum=["1"]),
                header("Upload-Metadata", "key base64(value) pairs: filename, filetype")), TUS_DATA,
                security=UPLOAD.security),
        },
        PATTERN: {
            "OPTIONS": TUS_OPTIONS,
            "HEAD": Operation("The upload's offset (tus)", {200: Answer("its state", None, {
                **TUS_STATE, "Upload-Length": response_header("the total size")}), **TUS_ERRORS}, (TUS_RESUMABLE,)),
            "GET": Operation("The upload's progress, or the stored file's links once finished", {
                200: Answer("in progress, or finished", json_of({"oneOf": [ref("TusProgress"), ref("TusFinished")]})),
                **TUS_ERRORS}),
            "PATCH": Operation("Append data at Upload-Offset (tus)", {
                204: Answer("appended", None, TUS_STATE),
                400: error("a missing or bad Upload-Offset, Upload-Length or Upload-Checksum"),
                **TUS_ERRORS, **TUS_APPEND_ERRORS,
            }, (TUS_RESUMABLE, header("Upload-Offset", "where the data goes", required=True, pattern="^[0-9]+$"),
                header("Upload-Checksum", "algorithm base64(digest) of this request's data")),
                {**TUS_DATA, "required": True}),
            "DELETE": Operation("Terminate the upload (tus termination)", {
                204: DELETED, 403: error("the upload is finished: a stored file now"), **TUS_ERRORS},
                (TUS_RESUMABLE,)),
        },
    },
    "openapi": {PATTERN: {"GET": Operation("This document", {200: Answer("OpenAPI 3.1", json_of(ref("OpenApi")))})}},
    "metrics": {PATTERN: {"GET": Operation("The service's metrics, whichever worker answers", {
        200: Answer("Prometheus text format 0.0.4", TEXT),
        404: error("--metrics-listen serves them on another address")})}},
    "home": {PATTERN: {"GET": Operation("The upload page (a browser), or a plain-text usage (curl)", {
        200: Answer("by Accept: text/html when preferred, else text/plain", {**HTML, **TEXT}),
        304: Answer("If-None-Match matched the page's ETag")},
        (header("Accept", "text/html for the page"), header("If-None-Match", "the page's ETag")))}},
    "share": {PATTERN: {"GET": Operation("A page about the file for whoever received the link (never a download)", {
        200: Answer("name, size, sha256, expiry, downloads left, a download button", HTML),
        404: Answer("no such file (unknown, expired, used up or deleted): a page saying so", HTML)})}},
    "static": {PATTERN: {"GET": Operation("The upload page's files (web/)", {
        200: Answer("the file", {"text/css": {"schema": STRING}, "text/javascript": {"schema": STRING},
                                 **HTML}, {"ETag": response_header("the file's ETag")}),
        304: Answer("If-None-Match matched"),
        404: error("no such file")}, (header("If-None-Match", "an ETag"),))}},
}
