#!/usr/bin/python3
"""Writes the hostile-model corpus: ONNX files that must each fail with one clear error.

Run with Debian's python (onnx 1.12, numpy):

    /usr/bin/python3 tools/make_bad_models.py [--out tests/data/bad]

Every case is a small file in OUT (external-data cases in OUT/external/ with their data files)
plus one line in OUT/README.md naming the case and the error fragment privedge must print.
tests/cli/cli_test.sh runs each file through `privedge run` (one stderr line, non-zero exit, no
signal) and tests/model/onnx_import_test.cc checks the exact message of each.

Cases that fail only when run have no graph inputs, so `privedge run MODEL` reaches the kernel.
The symlink case needs a link pointing outside the folder; tests create it at run time
(next to a copy of external/symlink_escape.onnx) because a committed symlink would point at
a path that differs from machine to machine.

Also writes two well-formed helper models for the Session API tests into OUT/../session/.
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 13
IR = 7
CASES = []  # (file name relative to OUT, description, expected error fragment)


def model(nodes, inputs=(), outputs=(), inits=(), opset=OPSET, ir=IR, name="g", **kw):
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs), list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], **kw)
    m.ir_version = ir
    return m


def out(name, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, None)


def const(name, values, dtype=TensorProto.INT64, dims=None):
    values = list(values)
    return helper.make_tensor(name, dtype, [len(values)] if dims is None else dims, values)


def raw_tensor(name, dtype, dims, raw=None, floats=None):
    """A TensorProto built field by field: onnx.helper refuses the inconsistent ones we need."""
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    if raw is not None:
        t.raw_data = raw
    if floats is not None:
        t.float_data.extend(floats)
    return t


def add(out_dir, file, description, expected, data):
    """Records a case and writes it; `data` is a ModelProto or raw bytes."""
    path = os.path.join(out_dir, file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.SerializeToString())
    CASES.append((file, description, expected))


def relu_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    return model([helper.make_node("Relu", ["x"], ["y"])], [x], [out("y")])


def file_cases(d):
    add(d, "empty.onnx", "0-byte file", "model is empty (0 bytes)", b"")
    rng = np.random.default_rng(7)
    garbage = bytes(rng.integers(0, 256, 256, dtype=np.uint8))
    add(d, "garbage.onnx", "256 random bytes", "protobuf parsing failed", garbage)
    add(d, "text.onnx", "a text file, not a protobuf", "protobuf parsing failed",
        b"this is not an onnx model\n" * 4)
    full = relu_model().SerializeToString()
    add(d, "truncated.onnx", "a valid model cut in half", "protobuf parsing failed",
        full[: len(full) // 2])


def header_cases(d):
    m = relu_model()
    m.ir_version = 9
    add(d, "ir_version_9.onnx", "IR version 9 (newer than supported)",
        "model IR version 9 is not supported (expected 3 to 8)", m)
    m = relu_model()
    m.ir_version = 0
    add(d, "ir_version_0.onnx", "IR version 0 (missing)", "model IR version 0 is not supported", m)
    m = relu_model()
    m.opset_import[0].version = 18
    add(d, "opset_18.onnx", "default-domain opset 18", "imports default-domain opset 18", m)
    m = relu_model()
    del m.opset_import[:]
    add(d, "no_opset.onnx", "no opset_import at all", "model declares no opset_import", m)
    m = relu_model()
    m.ClearField("graph")
    add(d, "no_graph.onnx", "a ModelProto without a graph", "model has no graph", m)
    m = relu_model()
    m.functions.add().name = "f"
    add(d, "local_function.onnx", "declares a model-local function",
        "model-local functions are not supported", m)


def graph_cases(d):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    add(d, "unsupported_op.onnx", "operator FancyOp does not exist",
        "operator 'FancyOp' (opset 13) is not supported",
        model([helper.make_node("FancyOp", ["x"], ["y"], name="fancy")], [x], [out("y")]))
    m = model([helper.make_node("Frob", ["x"], ["y"], domain="com.example")], [x], [out("y")])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    add(d, "custom_domain_op.onnx", "operator from an unknown domain",
        "operator 'com.example.Frob' (opset 1) is not supported", m)
    add(d, "attribute_wrong_type.onnx", "Softmax axis stored as a list of ints",
        "node 'sm' (Softmax): attribute 'axis' has type list of ints, expected int",
        model([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=[0, 1])], [x],
              [out("y")]))
    add(d, "missing_required_attribute.onnx", "Cast without its required 'to'",
        "node 'c' (Cast): required attribute 'to' is missing",
        model([helper.make_node("Cast", ["x"], ["y"], name="c")], [x], [out("y")]))
    add(d, "too_many_inputs.onnx", "Relu with two inputs",
        "node 'r2' (Relu): has 2 inputs; opset 13 expects 1",
        model([helper.make_node("Relu", ["x", "x"], ["y"], name="r2")], [x], [out("y")]))
    add(d, "cycle.onnx", "two nodes feeding each other", "graph has a cycle through node 'a'",
        model([helper.make_node("Relu", ["b_out"], ["a_out"], name="a"),
               helper.make_node("Relu", ["a_out"], ["b_out"], name="b")], [], [out("a_out")]))
    add(d, "self_cycle.onnx", "a node consuming its own output",
        "node 'loop' (Add): consumes its own output 'y' (cycle)",
        model([helper.make_node("Add", ["x", "y"], ["y"], name="loop")], [x], [out("y")]))
    add(d, "undefined_input.onnx", "a node input nobody defines",
        "node 'r' (Relu): input 'nowhere' is not defined",
        model([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], [], [out("y")]))
    add(d, "undefined_output.onnx", "a graph output no node produces",
        "graph output 'missing' is not produced by any node",
        model([helper.make_node("Relu", ["x"], ["y"])], [x], [out("missing")]))
    add(d, "duplicate_output.onnx", "two nodes producing the same value",
        "output 'y' is already produced by node 'first' (Relu)",
        model([helper.make_node("Relu", ["x"], ["y"], name="first"),
               helper.make_node("Neg", ["x"], ["y"], name="second")], [x], [out("y")]))
    add(d, "output_shadows_input.onnx", "a node output redefining a graph input",
        "node 'r' (Relu): output 'x' redefines a graph input or initializer",
        model([helper.make_node("Relu", ["x"], ["x"], name="r")], [x], [out("x")]))
    c = const("c", [1.0, 2.0], TensorProto.FLOAT)
    m = model([helper.make_node("Relu", ["c"], ["y"])], [], [out("y")], [c, c])
    add(d, "duplicate_initializer.onnx", "two initializers with one name",
        "initializer 'c' is defined twice", m)
    add(d, "control_char_name.onnx", "a node name with a newline (would split the error line)",
        "graph 'g': node #0 name contains a control character (byte 10)",
        model([helper.make_node("FancyOp", ["x"], ["y"], name="evil\nname")], [x], [out("y")]))
    add(d, "deep_subgraphs.onnx", "If nodes nested 40 deep", "subgraphs nested deeper than 32",
        nested_if(40))
    add(d, "deep_subgraphs_protobuf.onnx", "If nodes nested 100 deep (protobuf recursion)",
        "protobuf parsing failed", nested_if(100))
    body = helper.make_graph([], "body", [], [out("nowhere")])
    cond = const("cond", [1], TensorProto.BOOL, dims=[])
    add(d, "subgraph_undefined.onnx", "an If branch returning a value nobody defines",
        "node 'if' (If): input 'nowhere' is not defined",
        model([helper.make_node("If", ["cond"], ["y"], name="if", then_branch=body,
                                else_branch=body)], [], [out("y")], [cond]))
    loop_body = helper.make_graph([helper.make_node("Identity", ["y"], ["z"])], "body", [],
                                  [out("z")])
    add(d, "subgraph_cycle.onnx", "an If branch reading the If node's own output",
        "node 'if' (If): consumes its own output 'y' (cycle)",
        model([helper.make_node("If", ["cond"], ["y"], name="if", then_branch=loop_body,
                                else_branch=loop_body)], [], [out("y")], [cond]))
    attr = helper.make_attribute("alpha", 1.0)
    attr.type = onnx.AttributeProto.UNDEFINED
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="lr")
    node.attribute.append(attr)
    add(d, "attribute_bad_type.onnx", "an attribute of type UNDEFINED",
        "attribute 'alpha' has unknown type 0", model([node], [x], [out("y")]))


def nested_if(depth):
    cond = const("cond", [1], TensorProto.BOOL, dims=[])
    leaf = helper.make_graph([helper.make_node("Constant", [], ["v"], value_float=1.0)],
                             "leaf", [], [out("v")])
    g = leaf
    for i in range(depth):
        # Only one branch nests: two would double the file size per level.
        node = helper.make_node("If", ["cond"], ["v"], then_branch=g, else_branch=leaf)
        g = helper.make_graph([node], "level%d" % i, [], [out("v")])
    return model(g.node, [], [out("v")], [cond])


def tensor_cases(d):
    def init_model(tensor):
        return model([helper.make_node("Identity", [tensor.name], ["y"])], [], [out("y")],
                     [tensor])

    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], [0.0] * 6)
    t.dims[1] = -3
    add(d, "negative_dim.onnx", "initializer with dims [2,-3]",
        "tensor 'w': negative dimension in shape [2,-3]", init_model(t))
    t = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    t.ClearField("float_data")
    t.ClearField("dims")
    t.dims.extend([1 << 20, 1 << 20])
    add(d, "huge_initializer.onnx", "a 4 TiB float initializer with no data",
        "tensor 'w': tensor of shape [1048576,1048576] and type float32 needs more than",
        init_model(t))
    t.ClearField("dims")
    t.dims.extend([1 << 32, 1 << 32])
    add(d, "overflow_initializer.onnx", "initializer whose element count overflows int64",
        "tensor 'w': element count of shape [4294967296,4294967296] overflows int64", init_model(t))
    t = raw_tensor("w", TensorProto.FLOAT, [1000], raw=np.zeros(3, np.float32).tobytes())
    add(d, "raw_data_short.onnx", "raw_data of 12 bytes for a [1000] float tensor",
        "tensor 'w': raw_data has 12 bytes but shape [1000] of float32 needs 4000", init_model(t))
    t = raw_tensor("w", TensorProto.FLOAT, [4], floats=[1.0, 2.0, 3.0])
    add(d, "float_data_short.onnx", "float_data with 3 values for shape [4]",
        "tensor 'w': float_data holds 3 values but shape [4] needs 4", init_model(t))
    t = raw_tensor("w", TensorProto.FLOAT, [1 << 29])
    add(d, "claimed_2gib_no_data.onnx", "a [2^29] float initializer (2 GiB, under the limit) "
        "with no data: refused before allocating",
        "tensor 'w': float_data holds 0 values but shape [536870912] needs 536870912",
        init_model(t))
    t = raw_tensor("w", TensorProto.FLOAT, [1 << 29], raw=b"\0" * 16)
    add(d, "claimed_2gib_raw_16_bytes.onnx", "a [2^29] float initializer with 16 bytes of "
        "raw_data", "tensor 'w': raw_data has 16 bytes but shape [536870912] of float32 needs "
        "2147483648", init_model(t))
    t = raw_tensor("w", TensorProto.FLOAT, [1 << 20, 0, 1 << 20])
    add(d, "empty_initializer_extents.onnx", "an empty initializer of shape [2^20,0,2^20]",
        "tensor 'w' has shape [1048576,0,1048576]: its non-zero extents multiply to more than",
        init_model(t))
    t = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    t.data_type = 99
    add(d, "bad_dtype.onnx", "initializer of data type 99",
        "tensor 'w': data type 99 is not supported", init_model(t))
    bad = helper.make_tensor("v", TensorProto.FLOAT, [2], [1.0, 2.0])
    bad.dims[0] = -1
    add(d, "negative_dim_attribute.onnx", "Constant whose value attribute has dims [-1]",
        "tensor 'v': negative dimension in shape [-1]",
        model([helper.make_node("Constant", [], ["y"], name="c", value=bad)], [], [out("y")]))


def external_tensor(name, location, shape, extra=()):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(shape)
    t.data_location = TensorProto.EXTERNAL
    for key, value in [("location", location)] + list(extra):
        e = t.external_data.add()
        e.key, e.value = key, value
    return t


def external_cases(d):
    ext = os.path.join(d, "external")
    os.makedirs(ext, exist_ok=True)
    with open(os.path.join(ext, "weights.bin"), "wb") as f:
        f.write(np.arange(4, dtype=np.float32).tobytes())  # 16 bytes

    def ext_model(tensor):
        return model([helper.make_node("Identity", [tensor.name], ["y"])], [], [out("y")],
                     [tensor])

    cases = [
        ("dotdot.onnx", "location '../escape.bin' climbs out of the folder",
         external_tensor("w", "../escape.bin", [4]), "may not contain '..'"),
        ("dotdot_nested.onnx", "location 'sub/../../escape.bin'",
         external_tensor("w", "sub/../../escape.bin", [4]), "may not contain '..'"),
        ("absolute.onnx", "location '/etc/passwd' is absolute",
         external_tensor("w", "/etc/passwd", [4]), "must be relative to the model's folder"),
        ("missing_file.onnx", "location names a file that does not exist",
         external_tensor("w", "no_such.bin", [4]), "external data file 'no_such.bin' not found"),
        ("too_short.onnx", "[1000] floats from a 16-byte file",
         external_tensor("w", "weights.bin", [1000]), "is too short: needs 4000 bytes"),
        ("bad_offset.onnx", "offset beyond the end of the file",
         external_tensor("w", "weights.bin", [4], [("offset", "4096")]),
         "is too short: needs 16 bytes at offset 4096"),
        ("offset_not_a_number.onnx", "offset 'abc'",
         external_tensor("w", "weights.bin", [4], [("offset", "abc")]),
         "external data offset 'abc' is not a non-negative integer"),
        ("length_mismatch.onnx", "length 8 for a [4] float tensor",
         external_tensor("w", "weights.bin", [4], [("length", "8")]),
         "external data length 8 does not match shape [4]"),
        ("directory.onnx", "location names the model's own folder",
         external_tensor("w", ".", [4]), "is not a regular file"),
        ("huge_external.onnx", "a [2^40] float tensor from external data",
         external_tensor("w", "weights.bin", [1 << 40]), "needs more than the"),
        ("symlink_escape.onnx", "location 'link.bin', a symlink the tests point outside",
         external_tensor("w", "link.bin", [4]), "resolves outside the model's folder"),
    ]
    for file, description, tensor, expected in cases:
        add(d, "external/" + file, description, expected, ext_model(tensor))


def runtime_cases(d):
    """Models that import fine but must fail in a kernel (no inputs: `privedge run` runs them)."""
    one = const("one", [1.0], TensorProto.FLOAT)

    def shaped(op, shape_values, extra_inputs=(), inits=(), **attrs):
        shape = const("shape", shape_values)
        return model([helper.make_node(op, list(extra_inputs) + ["shape"], ["y"], name="big",
                                       **attrs)], [], [out("y")], [shape] + list(inits))

    add(d, "huge_constant_of_shape.onnx", "ConstantOfShape [2^20,2^20] (4 TiB)",
        "tensor of shape [1048576,1048576] and type float32 needs more than",
        shaped("ConstantOfShape", [1 << 20, 1 << 20]))
    add(d, "overflow_constant_of_shape.onnx", "ConstantOfShape whose size overflows int64",
        "element count of shape [4294967296,4294967296,4294967296] overflows int64",
        shaped("ConstantOfShape", [1 << 32] * 3))
    add(d, "negative_constant_of_shape.onnx", "ConstantOfShape [-5]",
        "shape [-5] has a negative dimension", shaped("ConstantOfShape", [-5]))
    add(d, "huge_expand.onnx", "Expand [1] to [2^20,2^20]", "needs more than",
        shaped("Expand", [1 << 20, 1 << 20], ["one"], [one]))
    add(d, "huge_tile.onnx", "Tile [1] by 2^40", "needs more than",
        shaped("Tile", [1 << 40], ["one"], [one]))
    add(d, "huge_reshape.onnx", "Reshape [1] to [2^40]",
        "cannot reshape [1] (1 elements) to [1099511627776]",
        shaped("Reshape", [1 << 40], ["one"], [one]))
    rng = [const("start", [0], dims=[]), const("limit", [1 << 62], dims=[]),
           const("delta", [1], dims=[])]
    add(d, "huge_range.onnx", "Range(0, 2^62, 1)", "needs more than",
        model([helper.make_node("Range", ["start", "limit", "delta"], ["y"], name="big")], [],
              [out("y", TensorProto.INT64)], rng))
    rng = [const(n, [v], TensorProto.FLOAT, dims=[]) for n, v in
           [("start", 0.0), ("limit", 3e38), ("delta", 1e-30)]]
    add(d, "huge_range_float.onnx", "float Range(0, 3e38, 1e-30)", "range has too many elements",
        model([helper.make_node("Range", ["start", "limit", "delta"], ["y"], name="big")], [],
              [out("y")], rng))
    x = helper.make_tensor("x", TensorProto.FLOAT, [1, 1, 2, 2], [1.0, 2.0, 3.0, 4.0])
    scales = const("scales", [1.0, 1.0, 1e6, 1e6], TensorProto.FLOAT)
    add(d, "huge_resize.onnx", "Resize a 2x2 image by 1e6 per axis", "needs more than",
        model([helper.make_node("Resize", ["x", "", "scales"], ["y"], name="big")], [],
              [out("y")], [x, scales]))
    sizes = const("sizes", [1, 1, 1 << 31, 1 << 31])
    add(d, "huge_resize_sizes.onnx", "Resize a 2x2 image to 2^31 x 2^31", "needs more than",
        model([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="big")], [],
              [out("y")], [x, sizes]))
    a = const("a", [1.0, 2.0], TensorProto.FLOAT)
    b = const("b", [1, 2])
    add(d, "type_mismatch.onnx", "Add of float32 and int64", "node 'add' (Add)",
        model([helper.make_node("Add", ["a", "b"], ["y"], name="add")], [], [out("y")], [a, b]))
    s = helper.make_tensor("s", TensorProto.STRING, [1], [b"text"])
    add(d, "string_to_relu.onnx", "Relu of a string tensor", "node 'relu' (Relu)",
        model([helper.make_node("Relu", ["s"], ["y"], name="relu")], [], [out("y")], [s]))
    m1 = helper.make_tensor("m1", TensorProto.FLOAT, [2, 3], [0.0] * 6)
    m2 = helper.make_tensor("m2", TensorProto.FLOAT, [4, 5], [0.0] * 20)
    add(d, "matmul_shape_mismatch.onnx", "MatMul [2,3] x [4,5]", "node 'mm' (MatMul)",
        model([helper.make_node("MatMul", ["m1", "m2"], ["y"], name="mm")], [], [out("y")],
              [m1, m2]))
    add(d, "broadcast_mismatch.onnx", "Add [2,3] + [4,5]", "node 'add' (Add)",
        model([helper.make_node("Add", ["m1", "m2"], ["y"], name="add")], [], [out("y")],
              [m1, m2]))
    idx = const("idx", [1 << 40])
    add(d, "gather_out_of_range.onnx", "Gather index 2^40 from 6 rows", "node 'g' (Gather)",
        model([helper.make_node("Gather", ["m1", "idx"], ["y"], name="g")], [], [out("y")],
              [m1, idx]))
    add(d, "transpose_bad_perm.onnx", "Transpose with perm [0, 7]", "node 't' (Transpose)",
        model([helper.make_node("Transpose", ["m1"], ["y"], name="t", perm=[0, 7])], [],
              [out("y")], [m1]))
    add(d, "concat_bad_axis.onnx", "Concat along axis 5 of rank-2 tensors", "node 'c' (Concat)",
        model([helper.make_node("Concat", ["m1", "m1"], ["y"], name="c", axis=5)], [],
              [out("y")], [m1]))
    x4 = helper.make_tensor("x4", TensorProto.FLOAT, [1, 1, 2, 2], [1.0, 2.0, 3.0, 4.0])
    # libonnx's shape inference divides by the stride and dies with SIGFPE on this one, which
    # is why privedge does not run it on untrusted models.
    add(d, "pool_zero_stride.onnx", "MaxPool with strides [0, 0]",
        "node 'pool' (MaxPool): strides values must be in [1, 2147483648], got 0",
        model([helper.make_node("MaxPool", ["x4"], ["y"], name="pool", kernel_shape=[1, 1],
                                strides=[0, 0])], [], [out("y")], [x4]))
    add(d, "depth_to_space_huge_block.onnx", "DepthToSpace with blocksize 2^40 (its square "
        "overflows)", "node 'd2s' (DepthToSpace): blocksize must be in [1, 2^31]",
        model([helper.make_node("DepthToSpace", ["x4"], ["y"], name="d2s", blocksize=1 << 40)],
              [], [out("y")], [x4]))
    # Empty tensors cost no memory, but kernels looping over the other axes would spin for
    # hours (Softmax, TopK, CumSum...), so their extents are bounded too.
    add(d, "empty_huge_extents.onnx", "ConstantOfShape [2^20,0,2^20] feeding Softmax",
        "node 'empty' (ConstantOfShape): tensor has shape [1048576,0,1048576]: its non-zero "
        "extents multiply to more than",
        model([helper.make_node("ConstantOfShape", ["shape"], ["e"], name="empty"),
               helper.make_node("Softmax", ["e"], ["y"], name="softmax", axis=1)], [],
              [out("y")], [const("shape", [1 << 20, 0, 1 << 20])]))
    nothing = raw_tensor("nothing", TensorProto.FLOAT, [0])
    add(d, "empty_reshape_extents.onnx", "Reshape of an empty tensor to [2^20,0,2^20]",
        "node 'r' (Reshape): output 'y' has shape [1048576,0,1048576]",
        model([helper.make_node("Reshape", ["nothing", "shape"], ["y"], name="r", allowzero=1)],
              [], [out("y")], [nothing, const("shape", [1 << 20, 0, 1 << 20])], opset=14))
    add(d, "split_to_sequence_huge.onnx", "SplitToSequence of an empty [2^30,0] tensor into "
        "2^30 one-row tensors", "node 'split' (SplitToSequence): splitting extent 1073741824 "
        "gives 1073741824 chunks, more than the limit",
        model([helper.make_node("ConstantOfShape", ["shape"], ["e"]),
               helper.make_node("SplitToSequence", ["e"], ["y"], name="split")], [],
              [out("y")], [const("shape", [1 << 30, 0])]))
    add(d, "loop_forever.onnx", "Loop with no trip count whose cond stays true",
        "node 'forever' (Loop): stopped after", infinite_loop())
    # Fails only once the stacked steps pass SessionOptions::max_tensor_bytes: with the 4 GiB
    # default that memory is really held first, so only tests that lower the limit run it.
    add(d, "limits/loop_scan_growth.onnx",
        "Loop of 2^62 trips stacking a 4 MiB scan output each (run with a lowered "
        "max_tensor_bytes)", "node 'grow' (Loop): scan output 0 would exceed", growing_loop())


def infinite_loop():
    cond_in = helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])
    iter_in = helper.make_tensor_value_info("i", TensorProto.INT64, [])
    body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
                             [iter_in, cond_in], [out("cond_out", TensorProto.BOOL)])
    cond = const("cond", [1], TensorProto.BOOL, dims=[])
    # One loop-carried value so the node has an output.
    v = const("v", [1.0], TensorProto.FLOAT)
    v_in = helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])
    body.input.append(v_in)
    body.node.append(helper.make_node("Identity", ["v_in"], ["v_out"]))
    body.output.append(out("v_out"))
    return model([helper.make_node("Loop", ["", "cond", "v"], ["y"], name="forever", body=body)],
                 [], [out("y")], [cond, v])


def growing_loop():
    cond_in = helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])
    iter_in = helper.make_tensor_value_info("i", TensorProto.INT64, [])
    shape = const("shape", [1 << 20])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("ConstantOfShape", ["shape"], ["scan"])],
        "body", [iter_in, cond_in], [out("cond_out", TensorProto.BOOL), out("scan")], [shape])
    trips = const("trips", [1 << 62], dims=[])
    cond = const("cond", [1], TensorProto.BOOL, dims=[])
    return model([helper.make_node("Loop", ["trips", "cond"], ["y"], name="grow", body=body)],
                 [], [out("y")], [trips, cond])


def session_models(d):
    """Well-formed models the Session API tests use (not part of the hostile corpus)."""
    os.makedirs(d, exist_ok=True)
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    m = model([helper.make_node("Add", ["a", "b"], ["y"])], [a, b], [y])
    with open(os.path.join(d, "add_symbolic.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    # IR 3 style: the bias is an initializer and also a graph input, so a caller may override it.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    bias_in = helper.make_tensor_value_info("bias", TensorProto.FLOAT, [2])
    bias = helper.make_tensor("bias", TensorProto.FLOAT, [2], [10.0, 20.0])
    m = model([helper.make_node("Add", ["x", "bias"], ["y"])], [x, bias_in],
              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [bias], ir=3,
              opset=8)
    with open(os.path.join(d, "overridable_bias.onnx"), "wb") as f:
        f.write(m.SerializeToString())


def write_readme(d):
    lines = ["# Hostile models", "",
             "Generated by `tools/make_bad_models.py`; do not edit by hand. Each file must make",
             "`privedge run FILE` print one error line containing the fragment and exit non-zero.",
             "The symlink case needs `external/link.bin` pointing outside the folder; the tests",
             "create it in a temporary copy. Cases under `limits/` fail quickly only with",
             "lowered SessionOptions limits (tests/runtime/session_test.cc runs them so); the",
             "CLI test skips them.", "",
             "| file | case | error contains |", "|---|---|---|"]
    for file, description, expected in CASES:
        lines.append("| `%s` | %s | `%s` |" % (file, description, expected.replace("|", "\\|")))
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "bad"))
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for make in (file_cases, header_cases, graph_cases, tensor_cases, external_cases,
                 runtime_cases):
        make(args.out)
    session_models(os.path.join(args.out, "..", "session"))
    write_readme(args.out)
    print("wrote %d cases to %s" % (len(CASES), os.path.normpath(args.out)))


if __name__ == "__main__":
    main()
