"""A small ONNX graph builder for the ``onnx`` runtime: nodes, constants, unique names.

The runtime writes its graph node by node (rather than through a converter library)
so every operation is the float64 arithmetic scikit-learn and LightGBM do, in the same
order: that is what lets verification hold it to :data:`framework.EXACT`. Internal
tensor names carry a ``specops/`` prefix so they never collide with an input, which
is named after its column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import onnx

OPSET = 21
"""The default domain's opset (ONNX 1.16+, onnxruntime 1.18+)."""
ML_OPSET = 5
"""ai.onnx.ml: ``TreeEnsemble`` (opset 5) takes float64 thresholds and leaf weights and
tests category sets (``BRANCH_MEMBER``), which LightGBM's categorical splits need."""


class Unsupported(Exception):
    """The package holds something this runtime does not compile; the message says what."""


class Graph:
    """Nodes and constants of one graph; each ``op`` returns its (single) output's name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"specops/{hint}/{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """An initializer holding ``value`` (a NumPy array or a scalar)."""
        import numpy as np
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attrs: Any) -> str:
        """Append a node with one output and return that output's name; ``domain`` is an
        attribute like any other here (``ai.onnx.ml`` for the ML operators)."""
        from onnx import helper

        domain = attrs.pop("domain", "")
        output = self.name(hint or op_type.lower())
        self.nodes.append(
            helper.make_node(op_type, inputs, [output], name=output, domain=domain, **attrs)
        )
        return output

    def rename(self, tensor: str, output: str) -> None:
        """Expose ``tensor`` under the graph output name ``output``."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [tensor], [output], name=f"out/{output}"))

    def add_input(self, name: str, elem_type: int, shape: list[Any]) -> None:
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def add_output(self, name: str, elem_type: int, shape: list[Any]) -> None:
        from onnx import helper

        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def model(self, doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
        """The checked model: opsets pinned, metadata (labels, inputs) in its properties."""
        import onnx
        from onnx import helper

        graph = helper.make_graph(
            self.nodes, "specops", self.inputs, self.outputs, self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[
                helper.make_opsetid("", OPSET),
                helper.make_opsetid("ai.onnx.ml", ML_OPSET),
            ],
            producer_name="specops",
            doc_string=doc,
        )
        model.ir_version = 10  # what onnxruntime 1.18+ reads; onnx's newest may be ahead of it
        helper.set_model_props(model, metadata)
        onnx.checker.check_model(model)
        return model


def double(values: Any) -> np.ndarray:
    import numpy as np

    return np.asarray(values, dtype=np.float64)
