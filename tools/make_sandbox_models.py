#!/usr/bin/python3
"""Models for the sandbox tests (tests/sandbox/): one node of a test-only operator.

Each model is y = test.privedge.<Op>(x) with x, y float32[1]. The operators exist only in the
tests' worker program (tests/sandbox/test_worker_main.cc): with x[0] > 0 they try what a
hostile kernel would (open a socket, open a file, crash, spin, exhaust memory); otherwise they
copy x to y. Run: /usr/bin/python3 tools/make_sandbox_models.py tests/data/sandbox
"""
import os
import sys

import onnx
from onnx import TensorProto, helper

OPS = {
    "open_socket": "OpenSocket",
    "open_file": "OpenFile",
    "crash": "Crash",
    "spin": "Spin",
    "eat_memory": "EatMemory",
}


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, op in OPS.items():
        node = helper.make_node(op, ["x"], ["y"], name=name, domain="test.privedge")
        graph = helper.make_graph(
            [node], name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("test.privedge", 1)],
            producer_name="make_sandbox_models")
        model.ir_version = 8
        onnx.save(model, os.path.join(out_dir, name + ".onnx"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/sandbox")
