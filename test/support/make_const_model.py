#!/usr/bin/python3
"""Write a small ONNX model whose outputs are fixed tensors, for exact decoder tests.

Reads JSON on stdin: {"path": "out.onnx", "input": {"name": "input", "shape": [1,3,256,192]},
"outputs": [{"name": "simcc_x", "shape": [1,17,384], "data": [... flat floats ...]}, ...]}.
Each output = its constant + 0 * ReduceSum(input): the input is consumed (so the model runs
like a real one, with the input's name and shape checked) but cannot change the result.
Needs Debian's python3-onnx (apt-get install -y python3-onnx).
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

spec = json.load(sys.stdin)
inp = spec["input"]
nodes = [
    helper.make_node("ReduceSum", [inp["name"]], ["sum"], keepdims=0),
    helper.make_node("Mul", ["sum", "zero"], ["nothing"]),
]
inits = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
outputs = []
for i, o in enumerate(spec["outputs"]):
    const = np.array(o["data"], dtype=np.float32).reshape(o["shape"])
    inits.append(numpy_helper.from_array(const, f"const{i}"))
    nodes.append(helper.make_node("Add", [f"const{i}", "nothing"], [o["name"]]))
    outputs.append(helper.make_tensor_value_info(o["name"], TensorProto.FLOAT, o["shape"]))
graph = helper.make_graph(nodes, "const_pose", [helper.make_tensor_value_info(inp["name"], TensorProto.FLOAT, inp["shape"])], outputs, inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="graphrun-tests")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, spec["path"])
