"""graphrun's reference event receiver (FastAPI): what fastapi-sink delivers to.

    FASTAPI_TOKEN=secret python3 -m uvicorn app:app --port 8000     # from this folder

Endpoints (README.md has the whole contract):
  POST /events                 an event (schemas/event.schema.json), optionally with the snapshot
                               inline as image_jpeg_base64; 201 stored, 200 duplicate, 422 invalid
  POST /upload                 multipart: event_id + file (image/jpeg); 201 stored, 200 duplicate
  GET  /events                 stored events, newest first (limit, offset, stream_id, event_type)
  GET  /events/{id}            one event; /events/{id}/snapshot its JPEG
  GET  /stats                  counters (received, stored, duplicates, uploads, rejections)
  GET  /health                 open; everything else needs `Authorization: Bearer $FASTAPI_TOKEN`

Settings (environment): FASTAPI_TOKEN (required), BACKEND_DB (./events.db), BACKEND_MEDIA_DIR
(media/ beside the DB), BACKEND_JSONSCHEMA (auto|0|1: also check events against the JSON schema
with the jsonschema module), BACKEND_EVENT_SCHEMA (../../schemas/event.schema.json),
BACKEND_MAX_UPLOAD_BYTES (10 MiB), BACKEND_MAX_BODY_BYTES (20 MiB), BACKEND_FAULTS (1: the
test-only fault injection of faults.py).

Works with pydantic v1 (Debian 12: FastAPI 0.92) and v2 (FastAPI >= 0.100).
"""
import base64
import binascii
import hmac
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional

from fastapi import Depends, FastAPI, File, Form, Header, HTTPException, Query, Request, UploadFile
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # models, store, faults beside it

import models  # noqa: E402
from models import Event, EventSubmission, Literal  # noqa: E402
from store import Store  # noqa: E402

log = logging.getLogger("graphrun.backend")
HERE = os.path.dirname(os.path.abspath(__file__))
JPEG_MAGIC = b"\xff\xd8\xff"


class Settings:
    def __init__(self, env: Dict[str, str]) -> None:
        self.token = env.get("FASTAPI_TOKEN", "")
        if not self.token:
            raise RuntimeError("FASTAPI_TOKEN is not set: the backend only accepts events with `Authorization: Bearer <token>`")
        self.db = env.get("BACKEND_DB") or "events.db"
        self.media_dir = env.get("BACKEND_MEDIA_DIR") or os.path.join(os.path.dirname(os.path.abspath(self.db)), "media")
        self.jsonschema = (env.get("BACKEND_JSONSCHEMA") or "auto").lower()
        if self.jsonschema not in ("auto", "0", "1"):
            raise RuntimeError("BACKEND_JSONSCHEMA must be auto, 0 or 1, not %r" % self.jsonschema)
        self.event_schema = env.get("BACKEND_EVENT_SCHEMA") or os.path.join(HERE, "..", "..", "schemas", "event.schema.json")
        self.max_upload = _int_env(env, "BACKEND_MAX_UPLOAD_BYTES", 10 << 20)
        self.max_body = _int_env(env, "BACKEND_MAX_BODY_BYTES", 20 << 20)
        self.faults = env.get("BACKEND_FAULTS") == "1"


def _int_env(env: Dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError("%s must be a whole number of bytes, not %r" % (name, raw))
    if value < 1:
        raise RuntimeError("%s must be at least 1" % name)
    return value


def schema_validator(settings: Settings) -> Any:
    """The JSON-schema check of events, beside pydantic's: exact to the file, if/then included.
    auto: used when the jsonschema module and the schema file are there; 1: required."""
    if settings.jsonschema == "0":
        return None
    try:
        import jsonschema
        with open(settings.event_schema, encoding="utf-8") as f:
            schema = json.load(f)
        cls = jsonschema.Draft202012Validator
        cls.check_schema(schema)
        return cls(schema, format_checker=getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker())
    except Exception as err:  # ImportError, missing file, bad schema
        if settings.jsonschema == "1":
            raise RuntimeError("BACKEND_JSONSCHEMA=1 but the JSON-schema check is unavailable (%s: %s)" % (type(err).__name__, err))
        log.info("events are checked by the pydantic models only (%s: %s)", type(err).__name__, err)
        return None


# ---- response shapes (for the OpenAPI; handlers return plain JSON) --------------------------

class Ack(BaseModel):
    status: Literal["stored", "duplicate"] = Field(..., description="stored: new; duplicate: this event_id was stored before (nothing changed). Both acknowledge.")
    event_id: str
    upload: Optional[Literal["stored", "duplicate"]] = Field(None, description="With image_jpeg_base64 (POST /events) or on POST /upload: what happened to the JPEG.")


class UploadInfo(BaseModel):
    bytes: int
    sha256: str
    source: Literal["upload", "inline"]
    received_at: str
    href: str = Field(..., description="GET this (with the token) for the JPEG.")


class StoredEvent(BaseModel):
    event_id: str
    stream_id: str
    event_type: str
    category: str
    risk_level: str
    timestamp_utc: str
    received_at: str = Field(..., description="When this backend stored it (UTC).")
    has_upload: bool
    upload: Optional[UploadInfo]
    snapshot_url: Optional[str] = Field(None, description="event.snapshot.url, where a sink stored the JPEG elsewhere (S3).")
    event: Event


class EventList(BaseModel):
    total: int
    limit: int
    offset: int
    items: List[StoredEvent]


class Stats(BaseModel):
    events: int
    uploads: int
    counters: Dict[str, int]


class Problem(BaseModel):
    detail: Any


def _problem(status: int, detail: Any, headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class BodyLimit:
    """Refuses a request whose Content-Length is over the limit (413) before reading it."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                    await _problem(413, "request body over %d bytes" % self.max_body)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(env: Optional[Dict[str, str]] = None) -> FastAPI:
    settings = Settings(dict(os.environ) if env is None else env)
    store = Store(settings.db, settings.media_dir)
    checker = schema_validator(settings)
    token = settings.token.encode("utf-8")
    bearer = HTTPBearer(auto_error=False, description="FASTAPI_TOKEN of the backend")

    app = FastAPI(
        title="graphrun reference backend",
        version="1.0",
        description="Receives graphrun events (schema_version 1.0) and snapshots, idempotently by event_id. "
                    "Acknowledgements: any 2xx (201 stored, 200 duplicate). Other 4xx are permanent: the sender "
                    "dead-letters. 429/503 carry Retry-After; 5xx and timeouts are retried.",
    )
    app.state.store = store
    app.state.settings = settings

    def require_token(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        given = credentials.credentials.encode("utf-8") if credentials is not None else b""
        # compare_digest: the time taken does not tell how much of the token was right.
        if credentials is None or credentials.scheme.lower() != "bearer" or not hmac.compare_digest(given, token):
            store.count("unauthorized")
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_token)]
    problems = {401: {"model": Problem, "description": "Missing or wrong bearer token (permanent)."}}

    @app.exception_handler(RequestValidationError)
    async def rejected(request: Request, exc: RequestValidationError) -> Any:
        if request.method == "POST" and request.url.path in ("/events", "/upload"):
            await run_in_threadpool(store.count, "events_rejected" if request.url.path == "/events" else "uploads_rejected")
        return await request_validation_exception_handler(request, exc)

    @app.get("/health", summary="Liveness and storage check (no token).")
    async def health() -> Any:
        ok = await run_in_threadpool(store.ping)
        return {"status": "ok" if ok else "error", "validation": "pydantic+jsonschema" if checker else "pydantic",
                "pydantic": models.pydantic.VERSION}

    @app.get("/stats", dependencies=auth, responses={200: {"model": Stats}, **problems}, summary="Counters; they survive a restart.")
    async def stats() -> Any:
        return await run_in_threadpool(store.stats)

    @app.post("/events", dependencies=auth, status_code=201, summary="Deliver one event (idempotent by event_id).",
              responses={201: {"model": Ack, "description": "Stored."}, 200: {"model": Ack, "description": "Duplicate: stored before, acknowledged."},
                         400: {"model": Problem, "description": "Idempotency-Key differs from event_id (permanent)."},
                         413: {"model": Problem, "description": "Body or inline image too large (permanent)."}, **problems})
    async def post_event(request: Request, event: EventSubmission, idempotency_key: Optional[str] = Header(None, description="The event_id (fastapi-sink sends it).")) -> Any:  # type: ignore[valid-type]
        # `event` has passed the pydantic models (else FastAPI answered 422); what is stored is the
        # body as sent: numbers keep their form, no defaults are added.
        raw = json.loads(await request.body())
        key = _key(raw["event_id"])
        if idempotency_key is not None and _key(idempotency_key) != key:
            await run_in_threadpool(store.count, "events_rejected")
            return _problem(400, "Idempotency-Key %r is not the event_id %r" % (idempotency_key, raw["event_id"]))
        image_b64 = raw.pop("image_jpeg_base64", None)
        if checker is not None:
            errors = sorted(checker.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
            if errors:
                await run_in_threadpool(store.count, "events_rejected")
                return _problem(422, [{"loc": ["body"] + list(e.absolute_path), "msg": e.message, "type": "jsonschema." + str(e.validator)} for e in errors])
        image = None
        if image_b64 is not None:
            try:
                image = base64.b64decode(image_b64, validate=True)
            except (binascii.Error, ValueError):
                image = None
            problem = _image_problem(image, settings.max_upload, "image_jpeg_base64")
            if problem is not None:
                await run_in_threadpool(store.count, "events_rejected")
                return problem
        stored, upload = await run_in_threadpool(store.put_event, key, raw, image)
        body: Dict[str, Any] = {"status": "stored" if stored else "duplicate", "event_id": key}
        if upload is not None:
            body["upload"] = "stored" if upload else "duplicate"
        return JSONResponse(body, status_code=201 if stored else 200)

    @app.post("/upload", dependencies=auth, status_code=201, summary="Deliver the snapshot JPEG of an event (idempotent by event_id).",
              responses={201: {"model": Ack, "description": "Stored."}, 200: {"model": Ack, "description": "Duplicate: a JPEG for this event_id was stored before."},
                         413: {"model": Problem, "description": "Over BACKEND_MAX_UPLOAD_BYTES (permanent)."},
                         415: {"model": Problem, "description": "Not a JPEG (permanent)."}, **problems})
    async def upload(event_id: str = Form(..., description="The event's event_id (a UUID)."),
                     file: UploadFile = File(..., description="The JPEG (image/jpeg)."),
                     idempotency_key: Optional[str] = Header(None, description="The event_id (fastapi-sink sends it).")) -> Any:
        if not models._UUID.match(event_id):
            await run_in_threadpool(store.count, "uploads_rejected")
            return _problem(422, [{"loc": ["body", "event_id"], "msg": "must be a UUID (8-4-4-4-12 hex digits)", "type": "value_error"}])
        key = _key(event_id)
        if idempotency_key is not None and _key(idempotency_key) != key:
            await run_in_threadpool(store.count, "uploads_rejected")
            return _problem(400, "Idempotency-Key %r is not the event_id %r" % (idempotency_key, event_id))
        data = await file.read(settings.max_upload + 1)
        ctype = (file.content_type or "").split(";")[0].strip().lower()
        problem = _image_problem(data, settings.max_upload, "file") if ctype in ("image/jpeg", "application/octet-stream", "") else \
            _problem(415, "file must be image/jpeg, not %s" % ctype)
        if problem is not None:
            await run_in_threadpool(store.count, "uploads_rejected")
            return problem
        stored = await run_in_threadpool(store.put_upload, key, data)
        return JSONResponse({"status": "stored" if stored else "duplicate", "event_id": key, "upload": "stored" if stored else "duplicate"},
                            status_code=201 if stored else 200)

    @app.get("/events", dependencies=auth, responses={200: {"model": EventList}, **problems}, summary="Stored events, newest first (by timestamp_utc).")
    async def list_events(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                          stream_id: Optional[str] = Query(None), event_type: Optional[str] = Query(None)) -> Any:
        total, items = await run_in_threadpool(store.list_events, limit, offset, stream_id, event_type)
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/events/{event_id}", dependencies=auth, responses={200: {"model": StoredEvent}, 404: {"model": Problem}, **problems}, summary="One stored event.")
    async def get_event(event_id: str) -> Any:
        item = await run_in_threadpool(store.get_event, _key(event_id))
        return item if item is not None else _problem(404, "no event %s" % event_id)

    @app.get("/events/{event_id}/snapshot", dependencies=auth, response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": Problem}, **problems}, summary="The stored JPEG of an event.")
    async def get_snapshot(event_id: str) -> Any:
        path = await run_in_threadpool(store.upload_path, _key(event_id))
        return FileResponse(path, media_type="image/jpeg") if path is not None else _problem(404, "no snapshot for %s" % event_id)

    if settings.faults:
        import faults
        faults.install(app, auth)
    app.add_middleware(BodyLimit, max_body=settings.max_body)
    return app


def _key(event_id: str) -> str:
    """The storage key of an event_id: the UUID in lower case (format uuid allows upper case and urn:uuid:)."""
    key = event_id.strip().lower()
    return key[len("urn:uuid:"):] if key.startswith("urn:uuid:") else key


def _image_problem(data: Optional[bytes], limit: int, field: str) -> Optional[JSONResponse]:
    if data is None:
        return _problem(422, [{"loc": ["body", field], "msg": "not valid base64", "type": "value_error"}])
    if len(data) > limit:
        return _problem(413, "%s is over %d bytes" % (field, limit))
    if not data.startswith(JPEG_MAGIC):
        return _problem(415, "%s is not a JPEG" % field)
    return None


app = create_app()
