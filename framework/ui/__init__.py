"""The web UI (``specops ui``): runs, models, lineage and drift as pages.

:mod:`framework.ui.app` is the ASGI app and its routing, :mod:`framework.ui.html`
the layout and the one escaping helper, :mod:`framework.ui.svg` the charts and
graphs, :mod:`framework.ui.queries` the store reads pages share, and
:mod:`framework.ui.pages` the pages. Nothing here is imported by other commands.
"""
