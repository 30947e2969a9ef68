"""The FastAPI application: `create_app(agent, config)`.

POST /v1/chat                 a user's message (and optionally the persona) → the bot's reply and its candidates
GET/DELETE /v1/sessions/{id}  a session's persona and history / end it
PUT /v1/sessions/{id}/persona replace the persona
GET /v1/health                liveness and what is loaded
GET /metrics                  Prometheus text: requests, latency, errors, batch sizes, sessions
GET /                         the web page (chat, persona editor, candidate view; no external resources)
GET /openapi.json             the schema
"""

from __future__ import annotations

import hmac
import math
import time
import unicodedata
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from confab.errors import InvalidInput
from confab.replies import Agent, Reply
from confab.resources import resource_path
from confab.serve.batcher import Batcher
from confab.serve.sessions import Session, SessionStore
from confab.text.offensive import is_offensive, offensive_words
from confab.text.tokenize import tokenize
from confab.version import __version__

MAX_MESSAGE_CHARS = 1000
MAX_PERSONA_SENTENCES = 20
MAX_PERSONA_CHARS = 300
SAFE_REPLY = "I'd rather not say that. Let's talk about something else."


@dataclass
class ServeConfig:
    model: str = ""  # what is loaded, for /v1/health
    max_batch: int = 16  # requests of different sessions answered by one model call (1: no batching)
    max_wait_ms: float = 10.0  # how long the first request of a batch waits for others
    max_sessions: int = 1000
    session_ttl: float = 3600.0  # seconds a session lives without a message
    max_turns: int = 50  # turns of history a session keeps
    max_body_bytes: int = 64 * 1024
    api_key: str | None = None  # when set: header `Authorization: Bearer KEY` or `X-API-Key: KEY`
    safety: bool = False  # never send a candidate with a word of the offensive-word list


def _text(value: str) -> str:
    """One line of text: control characters are refused, runs of white space become one space."""
    if bad := next((c for c in value if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r"), None):
        raise InvalidInput(f"control character U+{ord(bad):04X} is not allowed")
    value = " ".join(value.split())
    if not value:
        raise InvalidInput("must not be blank")
    return value


Message = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(_text)]
Sentence = Annotated[str, Field(min_length=1, max_length=MAX_PERSONA_CHARS), AfterValidator(_text)]
Persona = Annotated[list[Sentence], Field(max_length=MAX_PERSONA_SENTENCES)]
SessionId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: SessionId | None = Field(None, description="Omit to start a new session.")
    message: Message
    persona: Persona | None = Field(None, description="Replaces the session's persona when given.")


class PersonaRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    persona: Persona


class CandidateOut(BaseModel):
    text: str
    score: float | None  # None where the score is not a finite number
    z: int | None = None  # PLATO-2: the latent value that produced it
    filtered: bool = False  # held back by the safety filter


class ChatResponse(BaseModel):
    session_id: str
    response: str
    candidates: list[CandidateOut]  # best first, as the agent ranked them
    scored_by: str  # what the scores are
    persona: list[str]
    turn: int  # how many turns the session's history holds
    seconds: float  # the model's time for the batch this reply was part of


class SessionOut(BaseModel):
    session_id: str
    persona: list[str]
    history: list[str]


class Metrics:
    def __init__(self, store: SessionStore):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "confab_requests", "HTTP requests", ["method", "path", "status"], registry=self.registry
        )
        self.latency = Histogram("confab_request_seconds", "Time to answer a request", ["path"],
                                 registry=self.registry)  # fmt: skip
        self.errors = Counter("confab_errors", "Requests that failed inside confab", ["kind"], registry=self.registry)
        self.batch = Histogram("confab_batch_size", "Requests answered by one model call",
                               buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)  # fmt: skip
        Gauge("confab_sessions", "Open sessions", registry=self.registry).set_function(lambda: len(store))


class BodyLimit:
    """413 for a request body over `limit` bytes, whether it says its length or streams it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        seen, too_large = 0, False

        async def counted():
            nonlocal seen, too_large
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                too_large = True
                return {"type": "http.disconnect"}  # the app stops reading; its answer is replaced below
            return message

        async def unless_too_large(message):
            if not too_large:
                await send(message)

        await self.app(scope, counted, unless_too_large)
        if too_large:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = JSONResponse({"detail": f"request body over {self.limit:,} bytes"}, status_code=413)
        await response(scope, receive, send)


def create_app(agent: Agent, config: ServeConfig | None = None) -> FastAPI:
    config = config or ServeConfig()
    store = SessionStore(config.max_sessions, config.session_ttl, config.max_turns)
    metrics = Metrics(store)
    batcher = Batcher(agent, config.max_batch, config.max_wait_ms / 1000, metrics.batch.observe)
    banned = offensive_words() if config.safety else frozenset()
    scored_by = getattr(agent, "scored_by", "the agent's score")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    about = "Persona-grounded chat. Sessions keep the persona and the history server-side."
    if note := getattr(agent, "persona_note", None):
        about += f" Persona: {note}."
    app = FastAPI(title="confab", version=__version__, description=about, lifespan=lifespan, docs_url=None,
                  redoc_url=None)  # fmt: skip
    app.state.store, app.state.metrics, app.state.config = store, metrics, config
    if config.max_body_bytes:
        app.add_middleware(BodyLimit, limit=config.max_body_bytes)  # inside `measure`: a 413 is counted too

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            metrics.errors.labels("unhandled").inc()
            response = JSONResponse({"detail": "internal error"}, status_code=500)
        route = request.scope.get("route")
        path = route.path if route is not None else "unmatched"  # templates, not session ids: few label values
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - start)
        return response

    def authorised(request: Request) -> None:
        if config.api_key is None:
            return
        given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), config.api_key.encode()):
            raise HTTPException(401, "a valid API key is needed (X-API-Key or Authorization: Bearer)",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    def session_of(session_id: str) -> Session:
        session = store.get(session_id)
        if session is None:
            raise HTTPException(404, f"unknown or expired session {session_id!r}: start a new one (omit session_id)")
        return session

    guarded = [Depends(authorised)]

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        # where and what, without echoing the input back (it may be huge, or NaN, which JSON cannot carry)
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resource_path("serve/index.html").read_text(encoding="utf-8"))

    @app.get("/v1/health")
    async def health() -> dict:
        return {"status": "ok", "model": config.model, "agent": type(agent).__name__, "scored_by": scored_by,
                "max_batch": config.max_batch,
                "sessions": len(store), "api_key": config.api_key is not None, "safety": config.safety}  # fmt: skip

    @app.post("/v1/chat", dependencies=guarded)
    async def chat(body: ChatRequest) -> ChatResponse:
        session = store.create(body.persona) if body.session_id is None else session_of(body.session_id)
        async with session.lock:  # one message of a session at a time, so turns stay in order
            if body.persona is not None:
                session.persona = list(body.persona)
            try:
                reply = await batcher.respond([*session.history, body.message], session.persona)
            except Exception as e:
                metrics.errors.labels("model").inc()
                raise HTTPException(500, f"the model failed: {type(e).__name__}") from e
            candidates, response = _screen(reply, banned)
            store.add_turns(session, body.message, response)
        return ChatResponse(
            session_id=session.id,
            response=response,
            candidates=candidates,
            scored_by=scored_by,
            persona=session.persona,
            turn=len(session.history),
            seconds=round(reply.seconds, 4),
        )

    @app.get("/v1/sessions/{session_id}", dependencies=guarded)
    async def get_session(session_id: SessionId) -> SessionOut:
        session = session_of(session_id)
        return SessionOut(session_id=session.id, persona=session.persona, history=session.history)

    @app.put("/v1/sessions/{session_id}/persona", dependencies=guarded)
    async def put_persona(session_id: SessionId, body: PersonaRequest) -> SessionOut:
        session = session_of(session_id)
        session.persona = list(body.persona)
        return SessionOut(session_id=session.id, persona=session.persona, history=session.history)

    @app.delete("/v1/sessions/{session_id}", status_code=204, dependencies=guarded)
    async def delete_session(session_id: SessionId) -> Response:
        if not store.delete(session_id):
            raise HTTPException(404, f"unknown or expired session {session_id!r}")
        return Response(status_code=204)

    @app.get("/metrics", dependencies=guarded, include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _screen(reply: Reply, banned: frozenset[str]) -> tuple[list[CandidateOut], str]:
    """The candidates as sent, and the response: the best one the safety filter lets through."""
    out = []
    for c in reply.candidates:
        z = c.info.get("z")
        out.append(CandidateOut(text=c.text, score=c.score if math.isfinite(c.score) else None,
                                z=z if isinstance(z, int) else None,
                                filtered=bool(banned) and is_offensive(tokenize(c.text), banned)))  # fmt: skip
    if not banned:
        return out, reply.text
    return out, next((c.text for c in out if not c.filtered), SAFE_REPLY)
