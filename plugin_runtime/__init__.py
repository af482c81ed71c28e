"""streambench plugin runtime: serve an async HTTP handler over Mattermost's ServeHTTP gRPC stream.

    async def app(request: Request, response: ResponseWriter) -> None:
        response.headers["Content-Type"] = "text/plain"
        async for chunk in request.body:
            await response.write(chunk)

Run it with `python -m plugin_runtime --app mymodule:app --listen unix:/tmp/plugin.sock`.
"""

from plugin_runtime.files import FilesRoot, NotARegularFileError
from plugin_runtime.headers import Headers, HeadersLockedError
from plugin_runtime.request import BodyTruncatedError, Request
from plugin_runtime.response import ResponseClosedError, ResponseWriter
from plugin_runtime.server import Handler

__all__ = [
    "BodyTruncatedError",
    "FilesRoot",
    "Handler",
    "Headers",
    "HeadersLockedError",
    "NotARegularFileError",
    "Request",
    "ResponseClosedError",
    "ResponseWriter",
]
