#include "kernels/kernel_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace privedge::testing {

Result<std::vector<Tensor>> RunOp(const std::string& op_type, const std::vector<Tensor>& inputs,
                                  const std::map<std::string, Attribute>& attributes,
                                  int num_outputs, int64_t opset, const std::string& domain) {
  Node node;
  node.name = "test";
  node.op_type = op_type;
  node.domain = domain;
  node.attributes = attributes;
  std::vector<Value> values(inputs.size());
  std::vector<const Value*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    node.inputs.push_back(inputs[i].defined() ? "in" + std::to_string(i) : "");
    values[i] = Value::FromTensor(inputs[i]);
    ptrs.push_back(inputs[i].defined() ? &values[i] : nullptr);
  }
  for (int i = 0; i < num_outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  KernelFn fn = KernelRegistry::Global().Find(op_type, domain);
  if (!fn) return NotImplemented("no kernel for ", op_type);
  KernelContext ctx(node, opset, ptrs);
  PE_RETURN_IF_ERROR(fn(ctx));
  std::vector<Tensor> out;
  for (Value& v : ctx.outputs()) out.push_back(v.tensor);
  return out;
}

Attribute IntAttr(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
Attribute FloatAttr(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
Attribute StringAttr(const std::string& v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = v;
  return a;
}
Attribute IntsAttr(const std::vector<int64_t>& v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = v;
  return a;
}
Attribute FloatsAttr(const std::vector<float>& v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = v;
  return a;
}

double RelativeError(const Tensor& fast, const Tensor& ref) {
  EXPECT_EQ(fast.shape(), ref.shape());
  if (fast.shape() != ref.shape()) return INFINITY;
  double scale = 0, err = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    scale = std::max(scale, std::fabs(double(ref.data<float>()[i])));
    err = std::max(err, std::fabs(double(fast.data<float>()[i]) - ref.data<float>()[i]));
  }
  return scale > 0 ? err / scale : err;
}

}  // namespace privedge::testing
