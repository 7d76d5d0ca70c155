"""A one-module Django site (settings, views, URLs) for the framework tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.urls import path, re_path
from django.views.static import serve

STATIC_ROOT = os.path.dirname(__file__)
FILE = os.path.join(STATIC_ROOT, "django_site.py")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="ferry-tests-only",
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "x"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",  # sets Content-Length
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )
    django.setup()


def hello(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(
        f"hello {name} {request.GET.get('q')} {request.path}", content_type="text/plain"
    )


def form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse(f"posted {request.POST['name']}", content_type="text/plain")
    return HttpResponse(f"token={get_token(request)}", content_type="text/plain")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    """Under ASGI Django wants an async iterator (it warns about a sync one)."""

    def parts() -> Iterator[bytes]:
        for n in range(3):
            yield b"part %d\n" % n

    async def async_parts() -> AsyncIterator[bytes]:
        for part in parts():
            yield part

    content = async_parts() if isinstance(request, ASGIRequest) else parts()
    return StreamingHttpResponse(content, content_type="text/plain")


def source(request: HttpRequest) -> FileResponse:
    return FileResponse(open(FILE, "rb"), content_type="text/x-python")


urlpatterns: list[Any] = [
    path("hello/<str:name>", hello),
    path("form", form),
    path("stream", stream),
    path("source", source),
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": STATIC_ROOT}),
]
