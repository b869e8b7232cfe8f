"""The ``specops`` command line."""
