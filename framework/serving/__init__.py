"""Online serving: an HTTP prediction server speaking MLflow's and the Open Inference protocols.

``specops serve`` (``framework/cli/serve.py``) and the ``http`` deploy target run
it; ``docs/serving.md`` describes the protocols, hot swap, the request log and
auth. One module per job: ``app`` (ASGI routing and body limits), ``connections``
(per-connection limits: head size, read deadlines, open connections), ``protocols/``
(request and response shapes), ``records`` (column names checked against the
signature as they are read), ``served`` (one loaded version), ``fastpath``
(LightGBM without pandas), ``model_holder`` (hot swap), ``request_log`` (the
prediction log writer), ``heap`` (the garbage collector kept off the request path),
``server`` (foreground) and ``daemon`` (background);
``settings`` holds one server's configuration and ``defaults`` the values it starts from.
"""
