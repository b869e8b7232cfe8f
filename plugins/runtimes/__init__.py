"""The built-in prediction runtimes (kind ``runtime``): ``native`` here, compiled forms
(ONNX Runtime, NumPy, compiled trees) in their own modules. Each module is its own
plugin, registered through the ``specops`` entry-point group like a third-party one."""
