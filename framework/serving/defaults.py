"""The server's defaults, in one place the CLI parser, the settings and the deploy targets share.

Plain constants and no imports, so ``specops --help`` (which builds every
command's parser) states them without loading anything.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
DEFAULT_POLL_SECONDS = 0.5
TOKEN_ENV = "SPECOPS_SERVE_TOKEN"
DEFAULT_MAX_HEADER_BYTES = 64 * 2**10
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_RETRY_MIN_SECONDS = 1.0
DEFAULT_RETRY_MAX_SECONDS = 60.0
