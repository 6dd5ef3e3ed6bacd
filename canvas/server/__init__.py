"""The canvas server: starlette on uvicorn, HTTP for tiles and files, one websocket per
client per canvas for commands and events (docs/protocol.md).

Modules: `app` (create_app), `state` (config and what a server holds), `canvases` (the
data folder), `routes` (HTTP), `session` (a websocket), `commands` (what each command
does), `protocol` (frames and validation), `messages` (outgoing shapes), `queue` (jobs
taking turns on the painter pools), `broadcast` (every viewer sees
every change), `security` (Origin, Host, token), `limits`, `errors`.
"""

from canvas.server.app import create_app
from canvas.server.protocol import VERSION
from canvas.server.state import ServerConfig

__all__ = ["ServerConfig", "VERSION", "create_app"]
