// The oneDNN fast kernels against the reference kernels (the oracle) on the same random inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "kernels/kernel.h"
#include "kernels/kernel_test_util.h"
#include "model/tensor_io.h"
#include "privedge/session.h"

namespace privedge {
namespace {

using testing::FloatAttr;
using testing::FloatsAttr;
using testing::IntAttr;
using testing::IntsAttr;
using testing::RelativeError;
using testing::RunOp;
using testing::StringAttr;

Tensor Random(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(ShapeElementCount(shape)));
  for (float& e : v) e = dist(rng);
  return Tensor::FromVector<float>(v, shape);
}

// Prepares the first fast kernel that accepts the node (inputs flagged constant are handed to
// it as initializers) and runs it. Returns nullptr in *name when every factory declined.
Result<std::vector<Tensor>> RunFast(const std::string& op_type, const std::vector<Tensor>& inputs,
                                    const std::vector<bool>& constant,
                                    const std::map<std::string, Attribute>& attributes,
                                    std::string* name, int threads = 1,
                                    const std::string& domain = "") {
  Node node;
  node.name = "fast";
  node.op_type = op_type;
  node.domain = domain;
  node.attributes = attributes;
  node.outputs = {"out0"};
  std::vector<Value> values(inputs.size());
  std::vector<const Value*> ptrs;
  PrepareContext prep{node, 17, {}, threads};
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    values[i] = Value::FromTensor(inputs[i]);
    ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
    prep.constant_inputs.push_back(inputs[i].defined() && constant[i] ? &inputs[i] : nullptr);
  }
  for (KernelFactory factory : KernelRegistry::Global().FindFast(op_type, domain)) {
    PE_ASSIGN_OR_RETURN(std::unique_ptr<PreparedKernel> kernel, factory(prep));
    if (!kernel) continue;
    *name = kernel->name();
    KernelContext ctx(node, 17, ptrs);
    PE_RETURN_IF_ERROR(kernel->Run(ctx));
    std::vector<Tensor> out;
    for (Value& v : ctx.outputs()) out.push_back(v.tensor);
    return out;
  }
  *name = "";
  return std::vector<Tensor>{};
}

// Runs the fast kernel (expected to accept the node) and the reference; compares outputs.
void ExpectMatchesReference(const std::string& op_type, const std::vector<Tensor>& inputs,
                            const std::vector<bool>& constant,
                            const std::map<std::string, Attribute>& attrs, const char* expect_name,
                            double tol = 1e-4, const std::string& domain = "") {
  std::string name;
  auto fast = RunFast(op_type, inputs, constant, attrs, &name, 2, domain);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  ASSERT_EQ(name, expect_name) << "the fast kernel declined";
  auto ref = RunOp(op_type, inputs, attrs, 1, 17, domain);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  EXPECT_LE(RelativeError((*fast)[0], (*ref)[0]), tol);
}

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, group, stride, dilation, pad;
  bool bias;
  const char* auto_pad = nullptr;
};

TEST(DnnlTest, ConvMatchesReference) {
  const ConvCase cases[] = {
      {1, 3, 17, 19, 8, 3, 3, 1, 1, 1, 1, true},     // odd sizes, first-layer channels
      {2, 5, 13, 11, 7, 3, 3, 1, 2, 1, 0, false},    // batch 2, stride 2, no pads
      {1, 16, 9, 9, 16, 3, 3, 16, 1, 1, 1, true},    // depthwise
      {2, 12, 10, 7, 12, 3, 3, 12, 2, 1, 1, false},  // depthwise stride 2
      {1, 8, 11, 11, 12, 3, 3, 4, 1, 1, 1, true},    // grouped
      {1, 6, 15, 15, 5, 3, 3, 1, 1, 2, 2, true},     // dilation 2
      {1, 24, 7, 9, 40, 1, 1, 1, 1, 1, 0, true},     // 1x1, small image: a convolution
      {2, 17, 6, 5, 9, 1, 1, 1, 1, 1, 0, true},      // 1x1 batch 2
      {1, 33, 5, 3, 20, 1, 1, 1, 1, 1, 0, false},    // 1x1 without bias
      {1, 24, 9, 11, 40, 1, 1, 1, 1, 1, 0, true},    // 1x1 as a matmul
      {2, 17, 8, 9, 9, 1, 1, 1, 1, 1, 0, true},      // 1x1 matmul batch 2
      {1, 33, 13, 5, 20, 1, 1, 1, 1, 1, 0, false},   // 1x1 matmul without bias
      {1, 8, 6, 6, 8, 1, 1, 1, 1, 1, 1, true},       // 1x1 with pads: not a plain product
      {2, 24, 8, 8, 16, 1, 1, 1, 2, 1, 0, false},    // 1x1 stride 2
      {1, 4, 14, 13, 6, 5, 5, 1, 1, 1, 2, true},     // 5x5
      {1, 3, 23, 21, 8, 7, 7, 1, 2, 1, 3, true},     // 7x7 stride 2
      {1, 7, 12, 12, 9, 3, 5, 1, 1, 1, 1, false},    // rectangular kernel
      {1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, true},   // small image: direct
      {1, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, true},   // Winograd
      {2, 64, 29, 31, 72, 3, 3, 1, 1, 1, 1, false},  // Winograd, odd sizes, batch 2
      {1, 5, 10, 9, 6, 3, 3, 1, 2, 1, 0, true, "SAME_UPPER"},
      {1, 5, 10, 9, 6, 4, 4, 1, 1, 1, 0, false, "SAME_LOWER"},
      {1, 5, 10, 9, 6, 3, 3, 1, 1, 1, 0, true, "VALID"},
  };
  std::mt19937 rng(42);
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << "X [" << c.n << "," << c.c << "," << c.h << "," << c.w << "] M " << c.m << " k "
                 << c.kh << "x" << c.kw << " g " << c.group << " s " << c.stride << " d "
                 << c.dilation << " p " << c.pad << (c.auto_pad ? c.auto_pad : ""));
    std::vector<Tensor> in = {Random({c.n, c.c, c.h, c.w}, rng),
                              Random({c.m, c.c / c.group, c.kh, c.kw}, rng),
                              c.bias ? Random({c.m}, rng) : Tensor()};
    std::map<std::string, Attribute> attrs = {{"group", IntAttr(c.group)},
                                              {"strides", IntsAttr({c.stride, c.stride})},
                                              {"dilations", IntsAttr({c.dilation, c.dilation})}};
    if (c.auto_pad)
      attrs["auto_pad"] = StringAttr(c.auto_pad);
    else
      attrs["pads"] = IntsAttr({c.pad, c.pad, c.pad + (c.kh > 3 ? 1 : 0), c.pad});
    // Winograd rounds differently from direct convolution; 1e-4 of max|ref| holds for both.
    ExpectMatchesReference("Conv", in, {false, true, true}, attrs, "dnnl_f32_conv");
  }
}

TEST(DnnlTest, ConvDeclinesAndDelegates) {
  std::mt19937 rng(7);
  Tensor x = Random({1, 4, 6, 6}, rng), w = Random({4, 4, 3, 3}, rng);
  std::string name;
  // Weights only known at run time: the fast kernel declines.
  auto r = RunFast("Conv", {x, w}, {false, false}, {}, &name);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(name, "");
  // 1-D and 3-D convolutions stay on the reference.
  EXPECT_TRUE(
      RunFast("Conv", {Random({1, 4, 6}, rng), Random({4, 4, 3}, rng)}, {false, true}, {}, &name)
          .ok());
  EXPECT_EQ(name, "");
  // Bad attributes are declined so the reference reports them.
  EXPECT_TRUE(RunFast("Conv", {x, w}, {false, true}, {{"strides", IntsAttr({0, 1})}}, &name).ok());
  EXPECT_EQ(name, "");
  // An input whose channels disagree with W gets the reference's error.
  auto bad = RunFast("Conv", {Random({1, 3, 6, 6}, rng), w}, {false, true}, {}, &name);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("do not agree with group"), std::string::npos)
      << bad.status().message();
  // Same kernel, several input shapes (one plan each).
  for (int64_t h : {6, 9, 5}) {
    SCOPED_TRACE(h);
    ExpectMatchesReference("Conv", {Random({1, 4, h, h + 1}, rng), w}, {false, true},
                           {{"pads", IntsAttr({1, 1, 1, 1})}}, "dnnl_f32_conv");
  }
}

// com.privedge.FusedConv attributes for one activation.
std::map<std::string, Attribute> WithActivation(std::map<std::string, Attribute> attrs,
                                                const std::string& activation,
                                                const std::vector<float>& params) {
  attrs["activation"] = StringAttr(activation);
  attrs["activation_params"] = FloatsAttr(params);
  return attrs;
}

TEST(DnnlTest, FusedConvMatchesReference) {
  const ConvCase cases[] = {
      {1, 3, 17, 19, 8, 3, 3, 1, 1, 1, 1, true},     // direct
      {2, 12, 10, 7, 12, 3, 3, 12, 2, 1, 1, false},  // depthwise stride 2
      {1, 24, 7, 9, 40, 1, 1, 1, 1, 1, 0, true},     // 1x1, small image: a convolution
      {1, 33, 5, 3, 20, 1, 1, 1, 1, 1, 0, false},    // 1x1 without bias
      {1, 24, 9, 11, 40, 1, 1, 1, 1, 1, 0, true},    // 1x1: matmul with sum then activation
      {1, 33, 13, 5, 20, 1, 1, 1, 1, 1, 0, false},   // 1x1 matmul without bias
      {1, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, true},   // Winograd
  };
  const std::pair<const char*, std::vector<float>> activations[] = {
      {"Relu", {}},           {"LeakyRelu", {0.1f}}, {"Clip", {-0.5f, 0.75f}},
      {"Clip", {0.0f, 6.0f}}, {"Sigmoid", {}},       {"Swish", {}}};
  std::mt19937 rng(17);
  for (const ConvCase& c : cases) {
    std::vector<Tensor> in = {Random({c.n, c.c, c.h, c.w}, rng),
                              Random({c.m, c.c / c.group, c.kh, c.kw}, rng),
                              c.bias ? Random({c.m}, rng) : Tensor()};
    const std::map<std::string, Attribute> conv_attrs = {
        {"group", IntAttr(c.group)},
        {"strides", IntsAttr({c.stride, c.stride})},
        {"pads", IntsAttr({c.pad, c.pad, c.pad, c.pad})}};
    auto conv = RunOp("Conv", in, conv_attrs);
    ASSERT_TRUE(conv.ok()) << conv.status().ToString();
    for (const auto& [activation, params] : activations) {
      SCOPED_TRACE(::testing::Message() << "X [" << c.n << "," << c.c << "," << c.h << "," << c.w
                                        << "] k " << c.kh << " g " << c.group << " " << activation);
      const auto attrs = WithActivation(conv_attrs, activation, params);
      ExpectMatchesReference("FusedConv", in, {false, true, true}, attrs, "dnnl_f32_conv_act", 1e-4,
                             "com.privedge");
      // The reference FusedConv is the reference Conv followed by the reference activation.
      std::vector<Tensor> act_in = {(*conv)[0]};
      std::map<std::string, Attribute> act_attrs;
      if (std::string(activation) == "LeakyRelu") act_attrs["alpha"] = FloatAttr(params[0]);
      if (std::string(activation) == "Clip") {
        act_in.push_back(Tensor::Scalar<float>(params[0]));
        act_in.push_back(Tensor::Scalar<float>(params[1]));
      }
      const bool swish = std::string(activation) == "Swish";
      auto separate = RunOp(swish ? "Sigmoid" : activation, act_in, act_attrs);
      ASSERT_TRUE(separate.ok());
      if (swish) separate = RunOp("Mul", {(*conv)[0], (*separate)[0]}, {});  // x * Sigmoid(x)
      auto fused = RunOp("FusedConv", in, attrs, 1, 17, "com.privedge");
      ASSERT_TRUE(separate.ok() && fused.ok());
      EXPECT_LE(RelativeError((*fused)[0], (*separate)[0]), 1e-6);
    }
  }
  // An activation the kernels do not know is an error of the reference, declined by the fast one.
  const std::vector<Tensor> in = {Random({1, 2, 4, 4}, rng), Random({2, 2, 1, 1}, rng)};
  const auto tanh = WithActivation({}, "Tanh", {});
  std::string name;
  EXPECT_TRUE(RunFast("FusedConv", in, {false, true}, tanh, &name, 1, "com.privedge").ok());
  EXPECT_EQ(name, "");
  auto bad = RunOp("FusedConv", in, tanh, 1, 17, "com.privedge");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unsupported activation 'Tanh'"), std::string::npos);
}

TEST(DnnlTest, FusedConvWithSummandMatchesReference) {
  const ConvCase cases[] = {
      {1, 3, 17, 19, 8, 3, 3, 1, 1, 1, 1, true},     // direct: Z reordered into NHWC
      {2, 12, 10, 7, 12, 3, 3, 12, 2, 1, 1, false},  // depthwise stride 2
      {1, 24, 7, 9, 40, 1, 1, 1, 1, 1, 0, true},     // 1x1, small image: a convolution
      {1, 24, 9, 11, 40, 1, 1, 1, 1, 1, 0, true},    // 1x1: Y = Z + bias, then the matmul's sum
      {1, 33, 13, 5, 20, 1, 1, 1, 1, 1, 0, false},   // 1x1 matmul without bias
      {1, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, true},   // Winograd
  };
  std::mt19937 rng(19);
  for (const ConvCase& c : cases) {
    const int64_t oh = (c.h + 2 * c.pad - c.kh) / c.stride + 1;
    const int64_t ow = (c.w + 2 * c.pad - c.kw) / c.stride + 1;
    std::vector<Tensor> in = {Random({c.n, c.c, c.h, c.w}, rng),
                              Random({c.m, c.c / c.group, c.kh, c.kw}, rng),
                              c.bias ? Random({c.m}, rng) : Tensor(), Random({c.n, c.m, oh, ow}, rng)};
    const std::map<std::string, Attribute> conv_attrs = {
        {"group", IntAttr(c.group)},
        {"strides", IntsAttr({c.stride, c.stride})},
        {"pads", IntsAttr({c.pad, c.pad, c.pad, c.pad})}};
    SCOPED_TRACE(::testing::Message() << "X [" << c.n << "," << c.c << "," << c.h << "," << c.w
                                      << "] k " << c.kh << " g " << c.group);
    ExpectMatchesReference("FusedConv", in, {false, true, true, false}, conv_attrs,
                           "dnnl_f32_conv_act", 1e-4, "com.privedge");
    ExpectMatchesReference("FusedConv", in, {false, true, true, false},
                           WithActivation(conv_attrs, "Relu", {}), "dnnl_f32_conv_act", 1e-4,
                           "com.privedge");
    // The reference is Conv, then Add, then the activation.
    auto conv = RunOp("Conv", {in[0], in[1], in[2]}, conv_attrs);
    ASSERT_TRUE(conv.ok()) << conv.status().ToString();
    auto sum = RunOp("Add", {(*conv)[0], in[3]}, {});
    auto relu = RunOp("Relu", {(*sum)[0]}, {});
    auto fused = RunOp("FusedConv", in, WithActivation(conv_attrs, "Relu", {}), 1, 17,
                       "com.privedge");
    ASSERT_TRUE(sum.ok() && relu.ok() && fused.ok());
    EXPECT_EQ(RelativeError((*fused)[0], (*relu)[0]), 0.0);
  }
  // A summand that broadcasts (per channel, or onto a larger result) runs the reference.
  std::vector<Tensor> in = {Random({1, 4, 6, 6}, rng), Random({5, 4, 1, 1}, rng), Random({5}, rng),
                            Random({5, 1, 1}, rng)};
  ExpectMatchesReference("FusedConv", in, {false, true, true, false}, {}, "dnnl_f32_conv_act", 1e-5,
                         "com.privedge");
  in[3] = Random({3, 5, 6, 6}, rng);
  ExpectMatchesReference("FusedConv", in, {false, true, true, false}, {}, "dnnl_f32_conv_act", 1e-5,
                         "com.privedge");
  // A summand that does not broadcast is the reference Add's error.
  in[3] = Random({4, 6, 6}, rng);
  std::string name;
  auto bad = RunFast("FusedConv", in, {false, true, true, false}, {}, &name, 1, "com.privedge");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(Add)"), std::string::npos) << bad.status().message();
}

TEST(DnnlTest, EltwiseMatchesReference) {
  std::mt19937 rng(23);
  const Shape shapes[] = {{1}, {7}, {3, 5, 7}, {1, 17, 9, 11}, {}};
  for (const Shape& shape : shapes) {
    SCOPED_TRACE(ShapeToString(shape));
    Tensor x = Random(shape, rng);
    ExpectMatchesReference("Relu", {x}, {false}, {}, "dnnl_f32_eltwise", 0);
    ExpectMatchesReference("LeakyRelu", {x}, {false}, {{"alpha", FloatAttr(0.2f)}},
                           "dnnl_f32_eltwise", 1e-7);
    ExpectMatchesReference("Sigmoid", {x}, {false}, {}, "dnnl_f32_eltwise", 1e-6);
    ExpectMatchesReference("Clip", {x, Tensor::Scalar<float>(-0.25f), Tensor::Scalar<float>(0.5f)},
                           {false, true, true}, {}, "dnnl_f32_eltwise", 0);
    ExpectMatchesReference("Clip", {x, Tensor(), Tensor::Scalar<float>(0.5f)}, {false, true, true},
                           {}, "dnnl_f32_eltwise", 0);
  }
  std::string name;
  Tensor x = Random({4, 5}, rng);
  // Bounds known only at run time, or min > max: the reference.
  EXPECT_TRUE(RunFast("Clip", {x, Tensor::Scalar<float>(0.0f)}, {false, false}, {}, &name).ok());
  EXPECT_EQ(name, "");
  EXPECT_TRUE(RunFast("Clip", {x, Tensor::Scalar<float>(1.0f), Tensor::Scalar<float>(0.0f)},
                      {false, true, true}, {}, &name)
                  .ok());
  EXPECT_EQ(name, "");
  // Other dtypes at run time go to the reference inside the fast kernel.
  Tensor ints = Tensor::FromVector<int32_t>({-3, 0, 4}, {3});
  auto r = RunFast("Relu", {ints}, {false}, {}, &name);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::Values<int32_t>((*r)[0]), (std::vector<int32_t>{0, 0, 4}));
}

TEST(DnnlTest, PoolMatchesReference) {
  std::mt19937 rng(41);
  struct Case {
    Shape x;
    std::map<std::string, Attribute> attrs;
  };
  const Case cases[] = {
      {{1, 3, 17, 19}, {{"kernel_shape", IntsAttr({3, 3})}, {"strides", IntsAttr({2, 2})}}},
      {{2, 5, 13, 11}, {{"kernel_shape", IntsAttr({3, 2})}, {"pads", IntsAttr({1, 0, 1, 1})}}},
      {{1, 4, 12, 12},
       {{"kernel_shape", IntsAttr({3, 3})}, {"strides", IntsAttr({2, 2})}, {"ceil_mode", IntAttr(1)}}},
      {{1, 6, 10, 9},
       {{"kernel_shape", IntsAttr({2, 2})}, {"dilations", IntsAttr({2, 2})}}},
      {{1, 2, 9, 9}, {{"kernel_shape", IntsAttr({3, 3})}, {"auto_pad", StringAttr("SAME_UPPER")},
                      {"strides", IntsAttr({2, 2})}}},
      {{1, 64, 56, 56}, {{"kernel_shape", IntsAttr({3, 3})}, {"strides", IntsAttr({2, 2})},
                         {"pads", IntsAttr({1, 1, 1, 1})}}},  // large: two threads
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(ShapeToString(c.x));
    Tensor x = Random(c.x, rng);
    ExpectMatchesReference("MaxPool", {x}, {false}, c.attrs, "dnnl_f32_pool", 0);
    if (c.attrs.count("dilations")) continue;  // AveragePool takes dilations from opset 19
    ExpectMatchesReference("AveragePool", {x}, {false}, c.attrs, "dnnl_f32_pool", 1e-6);
    auto include = c.attrs;
    include["count_include_pad"] = IntAttr(1);
    ExpectMatchesReference("AveragePool", {x}, {false}, include, "dnnl_f32_pool", 1e-6);
  }
  for (const Shape& shape : {Shape{1, 7, 5, 3}, Shape{2, 33, 13, 13}, Shape{1, 1280, 7, 7}}) {
    SCOPED_TRACE(ShapeToString(shape));
    Tensor x = Random(shape, rng);
    ExpectMatchesReference("GlobalAveragePool", {x}, {false}, {}, "dnnl_f32_pool", 1e-6);
    ExpectMatchesReference("GlobalMaxPool", {x}, {false}, {}, "dnnl_f32_pool", 0);
  }
  // A window wholly in the padding, 3-D input, bad attributes: the reference, inside the kernel.
  std::string name;
  Tensor x = Random({1, 2, 4, 4}, rng);
  auto r = RunFast("MaxPool", {x}, {false},
                   {{"kernel_shape", IntsAttr({2, 2})}, {"pads", IntsAttr({2, 2, 2, 2})}}, &name);
  auto ref = RunOp("MaxPool", {x},
                   {{"kernel_shape", IntsAttr({2, 2})}, {"pads", IntsAttr({2, 2, 2, 2})}}, 1, 17);
  ASSERT_EQ(r.ok(), ref.ok());
  if (ref.ok()) {
    EXPECT_EQ(testing::Values<float>((*r)[0]), testing::Values<float>((*ref)[0]));
  }
  ExpectMatchesReference("MaxPool", {Random({1, 3, 11}, rng)}, {false},
                         {{"kernel_shape", IntsAttr({3})}}, "dnnl_f32_pool", 0);
  auto bad = RunFast("MaxPool", {x}, {false}, {{"kernel_shape", IntsAttr({0, 2})}}, &name);
  EXPECT_FALSE(bad.ok());
}

// (The fast Transpose and Slice are tested in dnnl_sequence_test.cc.)
TEST(DnnlTest, ConcatMatchesReference) {
  std::mt19937 rng(43);
  // Concat: channels (as in SqueezeNet), first and last axes, one input.
  ExpectMatchesReference("Concat", {Random({1, 16, 13, 11}, rng), Random({1, 5, 13, 11}, rng)},
                         {false, false}, {{"axis", IntAttr(1)}}, "dnnl_f32_concat", 0);
  ExpectMatchesReference("Concat",
                         {Random({2, 3, 5}, rng), Random({1, 3, 5}, rng), Random({4, 3, 5}, rng)},
                         {false, false, false}, {{"axis", IntAttr(0)}}, "dnnl_f32_concat", 0);
  ExpectMatchesReference("Concat", {Random({2, 3, 5}, rng), Random({2, 3, 1}, rng)},
                         {false, false}, {{"axis", IntAttr(-1)}}, "dnnl_f32_concat", 0);
  ExpectMatchesReference("Concat", {Random({7}, rng)}, {false}, {{"axis", IntAttr(0)}},
                         "dnnl_f32_concat", 0);
  // Mismatched shapes get the reference's error.
  std::string name;
  auto bad = RunFast("Concat", {Random({2, 3}, rng), Random({3, 3}, rng)}, {false, false},
                     {{"axis", IntAttr(1)}}, &name);
  EXPECT_FALSE(bad.ok());
}

TEST(DnnlTest, BinaryMatchesReference) {
  struct BinaryCase {
    Shape a, b;
  };
  const BinaryCase cases[] = {
      {{3, 5, 7}, {3, 5, 7}},          // same shapes
      {{2, 5, 3, 3}, {}},              // scalar
      {{2, 5, 3, 3}, {5, 1, 1}},       // per channel
      {{1, 13, 7, 9}, {1, 13, 1, 1}},  // squeeze-excitation scale
      {{2, 13, 7, 9}, {2, 13, 1, 1}},  // per image and channel
      {{4, 6, 11}, {11}},              // last axis
      {{4, 6, 11}, {4, 1, 11}},        // middle axis broadcast
      {{5, 1, 1}, {2, 5, 3, 3}},       // first operand broadcast: swapped for Add/Mul
      {{3, 1}, {1, 4}},                // both broadcast: the reference
  };
  std::mt19937 rng(29);
  for (const BinaryCase& c : cases) {
    SCOPED_TRACE(ShapeToString(c.a) + " op " + ShapeToString(c.b));
    Tensor a = Random(c.a, rng), b = Random(c.b, rng);
    // Keep divisors away from zero.
    for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] += b.data<float>()[i] < 0 ? -1 : 1;
    for (const char* op : {"Add", "Sub", "Mul", "Div"})
      ExpectMatchesReference(op, {a, b}, {false, false}, {}, "dnnl_f32_binary", 1e-6);
  }
  // Integer inputs go to the reference inside the fast kernel.
  std::string name;
  auto r = RunFast("Add", {Tensor::FromVector<int64_t>({1, 2}, {2}), Tensor::Scalar<int64_t>(5)},
                   {false, false}, {}, &name);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::Ints((*r)[0]), (std::vector<int64_t>{6, 7}));
}

TEST(DnnlTest, GemmMatchesReference) {
  struct GemmCase {
    int64_t m, k, n;
    int trans_a, trans_b;
    float alpha, beta;
    Shape c_shape;  // empty: no C
  };
  const GemmCase cases[] = {
      {1, 37, 13, 0, 1, 1.0f, 1.0f, {13}}, {5, 17, 29, 0, 0, 1.0f, 1.0f, {1, 29}},
      {7, 33, 3, 1, 1, 0.5f, 2.0f, {}},    {3, 64, 100, 1, 0, 1.0f, 0.25f, {1}},
      {4, 9, 11, 0, 1, 1.5f, 1.0f, {11}},
  };
  std::mt19937 rng(3);
  for (const GemmCase& c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.m << "x" << c.k << "x" << c.n << " tA " << c.trans_a << " tB " << c.trans_b);
    std::vector<Tensor> in = {Random(c.trans_a ? Shape{c.k, c.m} : Shape{c.m, c.k}, rng),
                              Random(c.trans_b ? Shape{c.n, c.k} : Shape{c.k, c.n}, rng),
                              c.c_shape.empty() ? Tensor() : Random(c.c_shape, rng)};
    ExpectMatchesReference("Gemm", in, {false, true, true},
                           {{"transA", IntAttr(c.trans_a)},
                            {"transB", IntAttr(c.trans_b)},
                            {"alpha", FloatAttr(c.alpha)},
                            {"beta", FloatAttr(c.beta)}},
                           "dnnl_f32_gemm");
  }
  // C with M rows is left to the reference.
  std::string name;
  EXPECT_TRUE(RunFast("Gemm", {Random({3, 4}, rng), Random({4, 5}, rng), Random({3, 5}, rng)},
                      {false, true, true}, {}, &name)
                  .ok());
  EXPECT_EQ(name, "");
}

TEST(DnnlTest, MatMulMatchesReference) {
  const Shape a_shapes[] = {{19}, {1, 19}, {7, 19}, {2, 3, 19}, {2, 1, 5, 19}};
  std::mt19937 rng(5);
  Tensor b = Random({19, 23}, rng);
  for (const Shape& a : a_shapes) {
    SCOPED_TRACE(ShapeToString(a));
    ExpectMatchesReference("MatMul", {Random(a, rng), b}, {false, true}, {}, "dnnl_f32_matmul");
  }
  // A batched (3-D) right operand goes to the kernel for run-time operands.
  std::string name;
  EXPECT_TRUE(
      RunFast("MatMul", {Random({2, 3, 4}, rng), Random({2, 4, 5}, rng)}, {false, true}, {}, &name)
          .ok());
  EXPECT_EQ(name, "dnnl_f32_batched_matmul");
  // Mismatched inner dimensions get the reference's error.
  EXPECT_FALSE(RunFast("MatMul", {Random({3, 18}, rng), b}, {false, true}, {}, &name).ok());
}

TEST(DnnlTest, ConcurrentRunsShareOneKernel) {
  // One prepared kernel, several threads, several input shapes: plans are built once per shape
  // under the cache's lock and every result matches the reference.
  std::mt19937 rng(11);
  Tensor w = Random({8, 6, 3, 3}, rng), b = Random({8}, rng);
  Node node;
  node.name = "conv";
  node.op_type = "Conv";
  node.inputs = {"x", "w", "b"};
  node.outputs = {"y"};
  node.attributes = {{"pads", IntsAttr({1, 1, 1, 1})}};
  PrepareContext prep{node, 17, {nullptr, &w, &b}, 1};
  auto factories = KernelRegistry::Global().FindFast("Conv");
  ASSERT_FALSE(factories.empty());
  auto kernel = factories[0](prep);
  ASSERT_TRUE(kernel.ok() && *kernel);
  std::vector<Tensor> xs = {Random({1, 6, 9, 9}, rng), Random({2, 6, 5, 7}, rng),
                            Random({1, 6, 12, 4}, rng)};
  std::vector<Tensor> refs;
  for (const Tensor& x : xs) {
    auto r = RunOp("Conv", {x, w, b}, node.attributes);
    ASSERT_TRUE(r.ok());
    refs.push_back((*r)[0]);
  }
  std::vector<double> errors(12, INFINITY);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < errors.size(); ++t) {
    threads.emplace_back([&, t] {
      const size_t i = t % xs.size();
      Value xv = Value::FromTensor(xs[i]), wv = Value::FromTensor(w), bv = Value::FromTensor(b);
      KernelContext ctx(node, 17, {&xv, &wv, &bv});
      if ((*kernel)->Run(ctx).ok()) errors[t] = RelativeError(ctx.outputs()[0].tensor, refs[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (double e : errors) EXPECT_LE(e, 1e-4);
}

// Whole models: fast kernels on and off give the same outputs.
TEST(DnnlTest, SessionFastMatchesReference) {
  for (const char* model : {"resnet18_2stages", "mobilenet_v2_w035"}) {
    SCOPED_TRACE(model);
    const std::string base = std::string(PRIVEDGE_SOURCE_DIR) + "/tests/data/models/" + model;
    auto input = ReadNpy(base + ".input.npy");
    ASSERT_TRUE(input.ok()) << input.status().ToString();
    std::vector<Tensor> outs;
    for (bool fast : {false, true}) {
      SessionOptions options;
      options.fast_kernels = fast;
      options.threads = 1;
      auto session = Session::Load(base + ".onnx", options);
      ASSERT_TRUE(session.ok()) << session.status().ToString();
      auto out = (*session)->Run({{(*session)->inputs()[0].name, *input}});
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      outs.push_back((*out)[0].second);
    }
    EXPECT_LE(RelativeError(outs[1], outs[0]), 1e-4);
  }
}

}  // namespace
}  // namespace privedge
