"""The HTTP routes: /v1/recommend, /v1/interactions, /v1/items (search; POST: new items; /hide,
/show and /hidden: items taken out of recommendations), /v1/genres,
/healthz, /readyz, /metrics, the page at /, and the OpenAPI docs at /docs. Errors are JSON with one
clear ``detail``; nothing a client sends can make the service hold more than ``max_queue`` requests
or a body over ``max_body_bytes``."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ..choices import RankingMode, ReasonsMode
from ..errors import ZsrecError
from .batcher import Batcher, Dropped, QueueFullError
from .config import ServeConfig
from .metrics import ServiceMetrics
from .service import RecommendService, Variant

OPEN_PATHS = {"/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/redoc"}
NAMED_ROUTES = OPEN_PATHS | {"/v1/recommend", "/v1/interactions", "/v1/items", "/v1/items/hide", "/v1/items/show",
                              "/v1/items/hidden", "/v1/genres"}  # metrics label any other path "other"


class RecommendBody(BaseModel):
    """A new user's picks, oldest first, as titles (matched forgivingly) or item ids."""

    # ids sent as JSON numbers (50, not "50") are the ids they spell
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    history: list[str] = Field(default_factory=list, description="Titles or item ids the user picked, oldest first.")
    k: int | None = Field(default=None, ge=1, description="How many items to return (default: the service's k).")
    exclude: list[str] = Field(default_factory=list, description="Item ids (or titles) never to recommend.")
    only: list[str] = Field(default_factory=list, description="Recommend only these item ids (or titles): in stock, one shelf.")
    only_genres: list[str] = Field(default_factory=list, description="Recommend only items of any of these genres.")
    mode: RankingMode | None = Field(default=None, description="generate or score (default: the service's).")
    reasons: ReasonsMode | None = Field(default=None, description="llm, evidence or none (default: the service's).")
    fusion_weight: float | None = Field(default=None, ge=0, le=1, description=(
        "The LLM order's share of the final one, fused with the shortlist's (0: the shortlist's order; "
        "default: the service's)."))
    user: str | None = Field(default=None, description="A known user id instead of a history: their recent picks.")
    n_history: int = Field(default=10, ge=1, description="With user: how many recent picks form the history.")
    allow_unknown_titles: bool = Field(default=False, description="Leave out titles that match nothing (listed).")
    allow_empty: bool = Field(default=False, description="With no history, rank the most popular items.")


class Pick(BaseModel):
    """One new pick."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    user_id: str = Field(description="Who picked it: a known user, or a new one (who then becomes known).")
    item_id: str = Field(description="What was picked: an item id, or a title (exact or case-insensitive).")
    timestamp: str | None = Field(default=None, description="When: epoch seconds (or milliseconds), or ISO 8601 "
                                                            "(default: now). A user's picks come in time order.")
    rating: float | None = Field(default=None, description="The user's rating, if the data has ratings.")


class InteractionsBody(BaseModel):
    """Picks made since the service started, counted in at once: every index, popularity, reasons."""

    model_config = ConfigDict(extra="forbid")

    interactions: list[Pick] = Field(min_length=1, description="The new picks; all are taken, or none (422).")


class NewItem(BaseModel):
    """One new catalog item; any other field (description, year, tags) is text the shortlist's
    retriever and the prompt use, as another column of an items file is."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    item_id: str = Field(description="Its id: one the catalog does not hold yet.")
    title: str | None = Field(default=None, description="What people type and the prompt shows (default: the id).")
    genres: str | list[str] | None = Field(default=None, description="Its genres or category: a list, or one text "
                                                                     "split at |, ',' or ';'.")


class ItemsBody(BaseModel):
    """Items new to the catalog, put in at once: typed, picked, filtered to and shortlisted from the next request on."""

    model_config = ConfigDict(extra="forbid")

    items: list[NewItem] = Field(min_length=1, description="The new items; all are taken, or none (422).")


class ItemIdsBody(BaseModel):
    """Items named by id or title (as ``exclude`` names them): hidden from recommendations, or shown again."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    items: list[str] = Field(min_length=1, description="Item ids or titles; all are known, or nothing changes (422).")


class BodyLimit:
    """Refuse a body over the limit before the app reads it (422), whether or not the client said
    its length: the body is read here, at most ``limit`` bytes, then handed on."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > self.limit
        chunks, size, more = [], 0, not too_big
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                too_big = True
                break
        if too_big:
            response = JSONResponse({"detail": f"the request body is larger than this service takes ({self.limit} bytes)"},
                                    status_code=422)
            return await response(scope, receive, send)
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Guard:
    """The API key and the request metrics, as plain ASGI: a wrapper that leaves ``receive`` alone, so
    a route can still see its client hang up."""

    def __init__(self, app: Any, api_key: str | None, metrics: ServiceMetrics):
        self.app, self.api_key, self.metrics = app, api_key, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        path = scope["path"]
        route = path if path in NAMED_ROUTES else "other"
        status = [500]

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if self.api_key is not None and path not in OPEN_PATHS and not _key_ok(Request(scope), self.api_key):
                response = JSONResponse({"detail": "missing or wrong API key (send it as 'Authorization: Bearer KEY' "
                                                   "or 'X-API-Key: KEY')"}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.requests.inc(route, str(status[0]))
            self.metrics.latency.observe(time.perf_counter() - started, route)


def _model_error(service: RecommendService, on_model_error: Callable[[], None] | None) -> None:
    if service.model_error and on_model_error is not None:
        on_model_error()


def create_app(service: RecommendService, config: ServeConfig,
               on_model_error: Callable[[], None] | None = None) -> FastAPI:
    """``on_model_error``: called once the load finds the model named unusable (``service.model_error``;
    ``zsrec serve`` stops there). Either way /readyz answers 503 with the error, and a request that
    would rank with the model fails with it (422)."""
    metrics = ServiceMetrics(queue_depth=lambda: batcher.depth, model_ready=lambda: float(ready()),
                             items_hidden=lambda: float(len(service.hidden_items())))
    batcher = Batcher(lambda variant, users: service.rank_batch(variant, users), config.max_batch,
                      config.batch_window, config.max_queue, metrics)

    def ready() -> bool:
        return service.ready.is_set() and not service.load_error

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        loading = asyncio.create_task(batcher.run_in_worker(service.load))
        loading.add_done_callback(lambda _: _model_error(service, on_model_error))
        yield
        await batcher.stop(config.drain_seconds)  # in-flight requests have finished; rank what is still queued
        await asyncio.gather(loading, return_exceptions=True)

    app = FastAPI(title="zsrec", summary="Zero-shot LLM recommendations for new users.", lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.service = batcher, metrics, service

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"detail": problems, "errors": _plain(exc.errors())}, status_code=422)

    @app.post("/v1/recommend", summary="Rank k items for a new user; the same JSON as `zsrec rank --format json`.")
    async def recommend(body: RecommendBody, request: Request) -> JSONResponse:
        # The deadline runs from arrival; its last 5% (at most 1 s) is kept for answering in shortlist
        # order, which takes longer when the model's thread competes for the interpreter.
        deadline = time.monotonic() + config.deadline - min(1.0, config.deadline / 20)
        variant = Variant(body.mode or service.default.mode, body.reasons or service.default.reasons,
                          service.default.fusion_weight if body.fusion_weight is None else body.fusion_weight)
        try:
            user = service.prepare(variant, body.history, body.k, body.exclude, body.allow_unknown_titles,
                                   body.allow_empty, body.user, body.n_history, body.only, body.only_genres)
        except ZsrecError as e:
            return JSONResponse({"detail": str(e)}, status_code=422)
        try:
            ticket = batcher.submit(variant, user, deadline, gone=request.is_disconnected)
        except QueueFullError as e:
            metrics.rejected.inc()
            return JSONResponse({"detail": f"busy: {e}; retry in {config.retry_after}s"}, status_code=503,
                                headers={"Retry-After": str(config.retry_after)})
        late = f"the service's deadline of {config.deadline:g}s passed before the LLM answered"
        try:
            result = await asyncio.wait_for(asyncio.shield(ticket.future), timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            ticket.future.cancel()  # dropped from its batch if it has not started
            metrics.fallbacks.inc("deadline")
            return JSONResponse(service.shown_order(variant, user, late).to_dict())
        except Dropped as dropped:
            reason = {"deadline": f"the service was too busy to rank it within its deadline of {config.deadline:g}s",
                      "shutdown": "the service was shutting down"}.get(dropped.why, late)
            metrics.fallbacks.inc(dropped.why)
            return JSONResponse(service.shown_order(variant, user, reason).to_dict())
        except ZsrecError as e:
            return JSONResponse({"detail": str(e)}, status_code=422)
        if result.info.fallback:
            metrics.fallbacks.inc("llm")
        return JSONResponse(result.to_dict())

    async def take(what: str, add: Any, records: list, counter: Any = None) -> JSONResponse:
        """New picks or items, or items hidden or shown: refused (403) by a service started without
        them, else made off the event loop (counting takes a pass over the indexes; requests being
        prepared wait for the short step that puts them in place), a bad batch a 422 that changes nothing."""
        if not config.accept_interactions:
            return JSONResponse({"detail": f"this service does not take {what} (it was started with "
                                           "--no-accept-interactions)"}, status_code=403)
        try:
            added = await asyncio.to_thread(add, records)
        except ZsrecError as e:
            return JSONResponse({"detail": str(e)}, status_code=422)
        if counter is not None:
            counter.inc(by=added["added"])
        return JSONResponse(added)

    @app.post("/v1/interactions", summary="Count new picks in: the next requests' shortlists, reasons and known users hold them.")
    async def add_interactions(body: InteractionsBody) -> JSONResponse:
        picks = [pick.model_dump(exclude_none=True) for pick in body.interactions]
        return await take("new interactions", service.add_interactions, picks, metrics.interactions)

    @app.post("/v1/items", summary="Put new items in the catalog: the next requests can name, pick, filter to and be shown them.")
    async def add_items(body: ItemsBody) -> JSONResponse:
        items = [item.model_dump(exclude_none=True) for item in body.items]
        return await take("new items", service.add_items, items, metrics.items)

    @app.post("/v1/items/hide", summary="Never recommend these items again (they stay in the catalog: a history may name them).")
    async def hide_items(body: ItemIdsBody) -> JSONResponse:
        return await take("changes to its items", service.hide_items, body.items)

    @app.post("/v1/items/show", summary="Recommend items hidden by /v1/items/hide again.")
    async def show_items(body: ItemIdsBody) -> JSONResponse:
        return await take("changes to its items", service.show_items, body.items)

    @app.get("/v1/items/hidden", summary="The ids of the items hidden from recommendations, in the order hidden.")
    async def hidden_items() -> dict:
        return {"items": service.hidden_items()}

    @app.get("/v1/items", summary="Catalog items whose title words start with what was typed, most picked first.")
    async def items(q: Annotated[str, Query(max_length=200)] = "",
                    limit: Annotated[int, Query(ge=1, le=100)] = 10) -> dict:
        return {"items": service.search(q, limit)}

    @app.get("/v1/genres", summary="The catalog's genres (what only_genres takes), each with its number of items.")
    async def genres() -> dict:
        return {"genres": service.genres()}

    @app.get("/healthz", summary="The process is up.")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded, or the service's own settings need none (503 until then, "
                                "or if it failed to load).")
    async def readyz() -> JSONResponse:
        if ready():
            return JSONResponse({"status": "ready"})
        detail = service.load_error or "loading the model"
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)

    @app.get("/metrics", summary="Prometheus text format.", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = resources.files("zsrec.serving").joinpath("page.html").read_text(encoding="utf-8")
        return HTMLResponse(html.replace("__NEEDS_KEY__", "true" if config.api_key else "false"))

    return Guard(BodyLimit(app, config.max_body_bytes), config.api_key, metrics)  # type: ignore[return-value]


def _key_ok(request: Request, key: str) -> bool:
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return hmac.compare_digest(given.encode("utf-8"), key.encode("utf-8"))


def _plain(errors: list[dict]) -> list[dict]:
    """Validation errors as JSON can carry them (pydantic may put exceptions in ``ctx``)."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in errors]
