#!/usr/bin/python3
"""Small ONNX models for the yolo node's tests, written into a folder the test chooses.

Reads JSON on stdin: {"dir": "/tmp/x", "models": [spec, ...]}. A spec is one of
- {"file": "v5.onnx", "kind": "const", "input": {"name", "shape"}, "outputs": [{"name", "shape",
  "type": "float"|"int32"|"int64", "data": [flat values]}]}: every output is its constant plus
  0 x ReduceSum(input) (cast), so the input is consumed and checked but cannot change the
  result: outputs we know exactly. Shapes may hold names (symbolic dims) in the declared
  outputs; the constant then has the concrete "data_shape".
- {"file": "cls.onnx", "kind": "classifier", "input": {...}}: GlobalAveragePool, Flatten:
  output "logits" [1, C] (rank 2, an image classifier where a detector is expected).
- {"file": "rank3.onnx", "kind": "identity", "input": {...}}: output = input.
- {"file": "dyn.onnx", "kind": "relabel", "from": "model.onnx"}: the model with the first
  axis of its inputs and outputs renamed "batch" (a dynamic batch axis).
Needs Debian's python3-onnx (apt-get install -y python3-onnx).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TYPES = {"float": (TensorProto.FLOAT, np.float32), "int32": (TensorProto.INT32, np.int32), "int64": (TensorProto.INT64, np.int64)}


def value_info(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def const_model(spec):
    inp = spec["input"]
    nodes = [
        helper.make_node("ReduceSum", [inp["name"]], ["sum"], keepdims=0),
        helper.make_node("Mul", ["sum", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
    outputs = []
    for i, o in enumerate(spec["outputs"]):
        elem, dtype = TYPES[o.get("type", "float")]
        shape = o.get("data_shape", o["shape"])
        inits.append(numpy_helper.from_array(np.array(o["data"], dtype=dtype).reshape(shape), f"const{i}"))
        if dtype == np.float32:
            nodes.append(helper.make_node("Add", [f"const{i}", "nothing"], [o["name"]]))
        else:
            nodes.append(helper.make_node("Cast", ["nothing"], [f"nothing{i}"], to=elem))
            nodes.append(helper.make_node("Add", [f"const{i}", f"nothing{i}"], [o["name"]]))
        outputs.append(value_info(o["name"], elem, o["shape"]))
    return helper.make_graph(nodes, "const", [value_info(inp["name"], TensorProto.FLOAT, inp["shape"])], outputs, inits)


def classifier(spec):
    inp = spec["input"]
    nodes = [helper.make_node("GlobalAveragePool", [inp["name"]], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["logits"])]
    return helper.make_graph(nodes, "classifier", [value_info(inp["name"], TensorProto.FLOAT, inp["shape"])], [value_info("logits", TensorProto.FLOAT, [inp["shape"][0], inp["shape"][1]])])


def identity(spec):
    inp = spec["input"]
    return helper.make_graph([helper.make_node("Identity", [inp["name"]], ["out"])], "identity", [value_info(inp["name"], TensorProto.FLOAT, inp["shape"])], [value_info("out", TensorProto.FLOAT, inp["shape"])])


def main():
    req = json.load(sys.stdin)
    os.makedirs(req["dir"], exist_ok=True)
    for spec in req["models"]:
        out = os.path.join(req["dir"], spec["file"])
        if spec["kind"] == "relabel":
            m = onnx.load(spec["from"])
            for t in list(m.graph.input) + list(m.graph.output):
                t.type.tensor_type.shape.dim[0].dim_param = "batch"
            onnx.save(m, out)
            continue
        graph = {"const": const_model, "classifier": classifier, "identity": identity}[spec["kind"]](spec)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="graphrun-yolo-tests")
        model.ir_version = 8
        onnx.checker.check_model(model)
        onnx.save(model, out)


main()
