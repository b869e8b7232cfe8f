"""The server's defaults, in one place the CLI parser, the settings and the deploy targets share.

Plain constants and no imports, so ``specops --help`` (which builds every
command's parser) states them without loading anything.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
DEFAULT_POLL_SECONDS = 0.5
TOKEN_ENV = "SPECOPS_SERVE_TOKEN"
