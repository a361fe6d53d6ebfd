// Value: what flows along a graph edge at run time: a tensor, a sequence of tensors, or an
// optional that holds nothing.
#pragma once

#include <vector>

#include "privedge/tensor.h"

namespace privedge {

struct Value {
  enum class Kind { kNone, kTensor, kSequence };
  Kind kind = Kind::kNone;  // kNone: an optional without an element
  Tensor tensor;
  std::vector<Tensor> sequence;
  DType sequence_elem_type = DType::kUndefined;  // element type of an empty sequence

  static Value FromTensor(Tensor t) {
    Value v;
    v.kind = Kind::kTensor;
    v.tensor = std::move(t);
    return v;
  }
  static Value FromSequence(std::vector<Tensor> seq, DType elem_type = DType::kUndefined) {
    Value v;
    v.kind = Kind::kSequence;
    v.sequence = std::move(seq);
    v.sequence_elem_type = elem_type;
    if (v.sequence_elem_type == DType::kUndefined && !v.sequence.empty())
      v.sequence_elem_type = v.sequence[0].dtype();
    return v;
  }
  bool is_tensor() const { return kind == Kind::kTensor; }
  bool is_sequence() const { return kind == Kind::kSequence; }
  bool is_none() const { return kind == Kind::kNone; }
};

}  // namespace privedge
