"""Fault injection for tests (BACKEND_FAULTS=1 only; never in production).

A test tells the running backend how to misbehave on the sender's endpoints (POST /events,
POST /upload), so retries, timeouts and dead-lettering are checked against the real server:

  POST /_faults {"mode": "status", "status": 503, "retry_after": 2, "count": 5}
  POST /_faults {"mode": "html500"}                    500 with an HTML body
  POST /_faults {"mode": "slow", "delay_s": 5}         wait, then handle the request
  POST /_faults {"mode": "reset"}                      close the connection (TCP RST), no response
  POST /_faults {"mode": "reject_event", "event_id": "…", "status": 400}   that event only
  GET /_faults                                         the rules left, and how often each fired
  DELETE /_faults                                      back to normal

Each rule applies to the next `count` matching requests (default 1; 0: until DELETE), first rule
first. `path` limits it to "/events" or "/upload" (default both; reject_event: /events). With
`"stage": "after"` the request is handled (stored) first and only the answer is replaced: a lost
acknowledgement, which the sender must retry and the backend take as a duplicate.
"""
import asyncio
import json
import logging
import socket
import struct
from typing import Any, Dict, List, Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from models import Literal, PYDANTIC_V2

log = logging.getLogger("graphrun.backend.faults")
PATHS = ("/events", "/upload")


class FaultRule(BaseModel):
    mode: Literal["status", "html500", "slow", "reset", "reject_event"]
    status: Optional[int] = Field(None, ge=100, le=599, description="status: the status (default 503); reject_event: (default 400).")
    retry_after: Optional[float] = Field(None, ge=0, description="Seconds, sent as Retry-After (whole seconds, rounded up).")
    count: int = Field(1, ge=0, description="How many matching requests it applies to; 0: until DELETE /_faults.")
    delay_s: float = Field(0, ge=0, le=600, description="slow: the delay.")
    event_id: Optional[str] = Field(None, description="reject_event: the event it rejects.")
    path: Optional[Literal["/events", "/upload"]] = None
    stage: Literal["before", "after"] = Field("before", description="after: handle (store) the request, then misbehave.")


class Faults:
    def __init__(self) -> None:
        self.rules: List[Dict[str, Any]] = []
        self.fired = 0

    def add(self, rule: Dict[str, Any]) -> None:
        if rule["mode"] == "reject_event":
            if not rule.get("event_id"):
                raise HTTPException(422, "reject_event needs event_id")
            rule["event_id"] = rule["event_id"].lower()
            rule["path"] = "/events"
        rule["fired"] = 0
        self.rules.append(rule)

    def take(self, path: str, event_id: Optional[str]) -> Optional[Dict[str, Any]]:
        for rule in self.rules:
            if rule.get("path") not in (None, path):
                continue
            if rule["mode"] == "reject_event" and rule["event_id"] != event_id:
                continue
            rule["fired"] += 1
            self.fired += 1
            if rule["count"] and rule["fired"] >= rule["count"]:
                self.rules.remove(rule)
            return rule
        return None


def install(app: FastAPI, auth: List[Any]) -> None:
    faults = Faults()
    app.state.faults = faults

    @app.post("/_faults", dependencies=auth, include_in_schema=False)
    async def add_fault(rule: FaultRule) -> Any:
        data = rule.model_dump() if PYDANTIC_V2 else rule.dict()
        faults.add(data)
        log.warning("fault injected: %s", data)
        return {"rules": faults.rules}

    @app.get("/_faults", dependencies=auth, include_in_schema=False)
    async def list_faults() -> Any:
        return {"rules": faults.rules, "fired": faults.fired}

    @app.delete("/_faults", dependencies=auth, include_in_schema=False)
    async def clear_faults() -> Any:
        faults.rules.clear()
        return {"rules": []}

    app.add_middleware(FaultMiddleware, faults=faults)


class FaultMiddleware:
    """Plain ASGI middleware: it needs the server's own `receive` to reach the connection."""

    def __init__(self, app: Any, faults: Faults) -> None:
        self.app, self.faults = app, faults

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in PATHS or not self.faults.rules:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        event_id = None
        if scope["path"] == "/events":
            try:
                event_id = str(json.loads(body)["event_id"]).lower()
            except Exception:
                pass
        rule = self.faults.take(scope["path"], event_id)
        replayed = False

        async def replay() -> Dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if rule is None:
            await self.app(scope, replay, send)
            return
        mode = rule["mode"]
        held: List[Dict[str, Any]] = []
        if rule["stage"] == "after":
            async def hold(message: Dict[str, Any]) -> None:
                held.append(message)
            await self.app(scope, replay, hold)
        if mode == "slow":
            await asyncio.sleep(rule["delay_s"])
            if rule["stage"] == "after":
                for message in held:
                    await send(message)
            else:
                await self.app(scope, replay, send)
        elif mode == "reset":
            await _reset(receive, send)
        elif mode == "html500":
            await _respond(send, 500, b"<html><body><h1>500 Internal Server Error</h1><p>injected fault</p></body></html>", b"text/html; charset=utf-8")
        else:
            status = rule["status"] or (400 if mode == "reject_event" else 503)
            headers = []
            if rule["retry_after"] is not None:
                headers.append((b"retry-after", str(int(-(-rule["retry_after"] // 1))).encode()))
            detail = "injected fault: rejected event %s" % event_id if mode == "reject_event" else "injected fault: status %d" % status
            await _respond(send, status, json.dumps({"detail": detail}).encode(), b"application/json", headers)


async def _respond(send: Any, status: int, body: bytes, ctype: bytes, headers: Optional[List[Any]] = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())] + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _reset(receive: Any, send: Any) -> None:
    """Drops the connection with a TCP RST and no response. uvicorn's `receive` is a method of
    its request cycle, which holds the asyncio transport; SO_LINGER 0 turns the close into a RST."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        # Another server: start a response and fail, which closes the connection mid-answer.
        log.warning("reset: no transport reachable; closing mid-response instead")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
        raise ConnectionAbortedError("injected reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
    # Wait until the server has seen the connection go, so it does not try to answer on it.
    try:
        while (await asyncio.wait_for(receive(), 2))["type"] != "http.disconnect":
            pass
    except asyncio.TimeoutError:
        pass
