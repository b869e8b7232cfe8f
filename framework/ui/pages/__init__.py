"""The UI's pages: each module exposes ``ROUTES = [(method, pattern, handler)]``."""
