"""Each route declared once: method, path, handler, who may call it and its documentation.

A module lists its routes in one table, in the order aiohttp should match them:

    ROUTES = Routes(
        post("/api/v2/plans/create", create_plan, "Create a plan", _TAGS,
             request=NewPlan, status=201, response=answers.Plan),
        get("/internal/plans/{planId}", plan_state, None),  # None: not in the public API
    )

and both the router (`ROUTES.install(app)`) and the OpenAPI document (`ROUTES.docs`,
shared.http.openapi.build_spec) are derived from it, so a route cannot be served
undocumented, nor documented unserved, by forgetting the other list. `Routes` also works
as a decorator table for new code: `@ROUTES.get("/path", "Summary", tags)` above a
handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from shared.http.openapi import SIGNED_IN, Auth, RouteDoc

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str  # GET (HEAD too, as aiohttp's add_get), POST, ..., "*" for any
    path: str
    handler: Handler | None
    # None: served but not part of the public API (internal calls, pages, scripts).
    doc: RouteDoc | None = None
    # A folder served below `path` (aiohttp's add_static) instead of a handler.
    directory: Path | None = None

    def install(self, router: web.UrlDispatcher) -> None:
        if self.directory is not None:
            router.add_static(self.path, self.directory)
        elif self.handler is None:
            raise ValueError(f"{self.method} {self.path} has no handler")
        elif self.method == "GET":
            router.add_get(self.path, self.handler)
        else:
            router.add_route(self.method, self.path, self.handler)


def route(method: str, path: str, handler: Handler, summary: str | None,
          tags: tuple[str, ...] = (), *, request: type[BaseModel] | None = None,
          response: Any = None, status: int = 200, auth: Auth | bool = SIGNED_IN,
          extra: dict[str, Any] | None = None, bare: bool = False,
          documented_as: str | None = None) -> Route:
    """A route; documented when `summary` is given (RouteDoc's fields). `documented_as`
    is the path the document names when the router's differs only in a parameter's name
    (two routes of one template, which OpenAPI wants named alike)."""
    method = method.upper()
    doc = None if summary is None else RouteDoc(
        method, documented_as or path, summary, tags, request=request, response=response,
        status=status, auth=auth, extra=extra or {}, bare=bare)
    return Route(method, path, handler, doc)


def get(path: str, handler: Handler, summary: str | None, tags: tuple[str, ...] = (),
        **doc: Any) -> Route:
    return route("GET", path, handler, summary, tags, **doc)


def post(path: str, handler: Handler, summary: str | None, tags: tuple[str, ...] = (),
         **doc: Any) -> Route:
    return route("POST", path, handler, summary, tags, **doc)


def put(path: str, handler: Handler, summary: str | None, tags: tuple[str, ...] = (),
        **doc: Any) -> Route:
    return route("PUT", path, handler, summary, tags, **doc)


def patch(path: str, handler: Handler, summary: str | None, tags: tuple[str, ...] = (),
          **doc: Any) -> Route:
    return route("PATCH", path, handler, summary, tags, **doc)


def delete(path: str, handler: Handler, summary: str | None, tags: tuple[str, ...] = (),
           **doc: Any) -> Route:
    return route("DELETE", path, handler, summary, tags, **doc)


def static(prefix: str, directory: Path) -> Route:
    """Files of `directory` below `prefix`: never documented."""
    return Route("GET", prefix, None, directory=directory)


def documented(method: str, path: str, summary: str, tags: tuple[str, ...] = (),
               **doc: Any) -> Route:
    """The documentation of a route that shared.http.app.create_app routes for every
    service (/healthz, /readyz): `install` leaves it to the factory."""
    return Route(method.upper(), path, None, RouteDoc(method.upper(), path, summary, tags,
                                                      **doc))


class Routes:
    """A module's (or a service's) routes, in matching order."""

    def __init__(self, *routes: Route | Iterable[Route],
                 setup: Callable[[web.Application], None] | None = None) -> None:
        self._routes: list[Route] = []
        # What the handlers need in the app before the first request (run by install).
        self._setups: list[Callable[[web.Application], None]] = []
        for item in routes:
            if isinstance(item, Routes):
                self._setups.extend(item._setups)
            self._routes.extend([item] if isinstance(item, Route) else item)
        if setup is not None:
            self._setups.append(setup)

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    @property
    def docs(self) -> list[RouteDoc]:
        return [r.doc for r in self._routes if r.doc is not None]

    def install(self, app: web.Application) -> None:
        for setup in self._setups:
            setup(app)
        for r in self._routes:
            if r.handler is not None or r.directory is not None:
                r.install(app.router)

    def add(self, method: str, path: str, summary: str | None, tags: tuple[str, ...] = (),
            **doc: Any) -> Callable[[Handler], Handler]:
        """As a decorator: declares the handler below it; several stack."""
        def declare(handler: Handler) -> Handler:
            self._routes.append(route(method, path, handler, summary, tags, **doc))
            return handler
        return declare

    def get(self, path: str, summary: str | None, tags: tuple[str, ...] = (),
            **doc: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", path, summary, tags, **doc)

    def post(self, path: str, summary: str | None, tags: tuple[str, ...] = (),
             **doc: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", path, summary, tags, **doc)

    def put(self, path: str, summary: str | None, tags: tuple[str, ...] = (),
            **doc: Any) -> Callable[[Handler], Handler]:
        return self.add("PUT", path, summary, tags, **doc)

    def patch(self, path: str, summary: str | None, tags: tuple[str, ...] = (),
              **doc: Any) -> Callable[[Handler], Handler]:
        return self.add("PATCH", path, summary, tags, **doc)

    def delete(self, path: str, summary: str | None, tags: tuple[str, ...] = (),
               **doc: Any) -> Callable[[Handler], Handler]:
        return self.add("DELETE", path, summary, tags, **doc)
