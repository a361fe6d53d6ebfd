// SaveCheckpoint / LoadCheckpoint: the versioned little-endian format documented in
// include/privedge/training.h. Loading parses and checks everything before changing anything.
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <string_view>

#include "train/session_impl.h"

namespace privedge {
namespace {

static_assert(std::endian::native == std::endian::little, "checkpoints are little-endian");

constexpr char kMagic[8] = {'P', 'E', 'T', 'R', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
enum Role : uint32_t { kParameter = 0, kState = 1, kAnchor = 2, kFirst = 3, kSecond = 4 };

template <class T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  template <class T>
  Status Get(T& v, const char* what) {
    if (s_.size() - pos_ < sizeof(T)) return Truncated(what);
    std::memcpy(&v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::OK();
  }
  Status Bytes(size_t n, std::string& out, const char* what) {
    if (s_.size() - pos_ < n) return Truncated(what);
    out.assign(s_.data() + pos_, n);
    pos_ += n;
    return Status::OK();
  }
  Status Floats(int64_t n, std::vector<float>& out, const char* what) {
    if (n < 0 || static_cast<uint64_t>(n) > (s_.size() - pos_) / sizeof(float))
      return Truncated(what);
    out.resize(static_cast<size_t>(n));
    std::memcpy(out.data(), s_.data() + pos_, n * sizeof(float));
    pos_ += n * sizeof(float);
    return Status::OK();
  }
  size_t pos() const { return pos_; }
  size_t size() const { return s_.size(); }

 private:
  Status Truncated(const char* what) const {
    return InvalidArgument("checkpoint truncated at byte ", pos_, " while reading ", what, " (",
                           s_.size(), " bytes in all)");
  }
  std::string_view s_;
  size_t pos_ = 0;
};

void PutTensor(std::string& out, const std::string& name, Role role, const Shape& shape,
               const float* values, int64_t n) {
  Put<uint32_t>(out, static_cast<uint32_t>(name.size()));
  out += name;
  Put<uint32_t>(out, role);
  Put<uint32_t>(out, static_cast<uint32_t>(shape.size()));
  for (int64_t d : shape) Put<int64_t>(out, d);
  out.append(reinterpret_cast<const char*>(values), n * sizeof(float));
}

}  // namespace

std::string TrainingSession::SaveCheckpoint() const {
  const Impl& m = *impl_;
  std::vector<std::pair<std::string, Tensor>> states;
  for (const auto& name : m.state_names) {
    auto t = m.tape->Initializer(name);
    if (t.ok() && t->dtype() == DType::kFloat32) states.emplace_back(name, *t);
  }
  const auto& first = m.optimizer->first();
  const auto& second = m.optimizer->second();
  uint32_t count = static_cast<uint32_t>(m.layout.size() * 2 + states.size());
  if (!first.empty()) count += static_cast<uint32_t>(m.layout.size());
  if (!second.empty()) count += static_cast<uint32_t>(m.layout.size());
  std::string out(kMagic, sizeof(kMagic));
  Put<uint32_t>(out, kVersion);
  Put<uint32_t>(out, static_cast<uint32_t>(m.optimizer->kind()));
  Put<uint64_t>(out, static_cast<uint64_t>(m.optimizer->steps()));
  Put<float>(out, m.optimizer->learning_rate());
  Put<uint32_t>(out, count);
  for (const auto& p : m.layout) {
    PutTensor(out, p.name, kParameter, p.shape, m.weights.data() + p.offset, p.size);
    PutTensor(out, p.name, kAnchor, p.shape, m.anchor.data() + p.offset, p.size);
    if (!first.empty()) PutTensor(out, p.name, kFirst, p.shape, first.data() + p.offset, p.size);
    if (!second.empty()) PutTensor(out, p.name, kSecond, p.shape, second.data() + p.offset, p.size);
  }
  for (const auto& [name, t] : states)
    PutTensor(out, name, kState, t.shape(), t.data<float>(), t.numel());
  Put<uint64_t>(out, static_cast<uint64_t>(out.size() + sizeof(uint64_t)));
  return out;
}

Status TrainingSession::LoadCheckpoint(std::string_view bytes) {
  Impl& m = *impl_;
  Reader r(bytes);
  std::string magic;
  PE_RETURN_IF_ERROR(r.Bytes(sizeof(kMagic), magic, "the magic"));
  if (std::memcmp(magic.data(), kMagic, sizeof(kMagic)) != 0)
    return InvalidArgument("not a privedge training checkpoint (bad magic)");
  uint32_t version = 0, kind = 0, count = 0;
  uint64_t steps = 0;
  float lr = 0;
  PE_RETURN_IF_ERROR(r.Get(version, "the version"));
  if (version != kVersion)
    return InvalidArgument("checkpoint version ", version, " is not supported (expected ", kVersion,
                           ")");
  PE_RETURN_IF_ERROR(r.Get(kind, "the optimizer kind"));
  if (kind != static_cast<uint32_t>(m.optimizer->kind()))
    return InvalidArgument("checkpoint optimizer kind ", kind, " differs from the session's ",
                           static_cast<uint32_t>(m.optimizer->kind()));
  PE_RETURN_IF_ERROR(r.Get(steps, "the step counter"));
  PE_RETURN_IF_ERROR(r.Get(lr, "the learning rate"));
  if (steps > (uint64_t{1} << 62) || !std::isfinite(lr) || lr < 0)
    return InvalidArgument("checkpoint step counter or learning rate out of range");
  PE_RETURN_IF_ERROR(r.Get(count, "the tensor count"));

  std::map<std::string, const ParameterInfo*> params;
  for (const auto& p : m.layout) params[p.name] = &p;
  std::map<std::string, Tensor> states;
  for (const auto& name : m.state_names) {
    auto t = m.tape->Initializer(name);
    if (t.ok()) states[name] = *t;
  }
  std::vector<float> weights = m.weights, anchor = m.anchor;
  std::vector<float> first = m.optimizer->first(), second = m.optimizer->second();
  std::map<std::pair<std::string, uint32_t>, bool> seen;
  std::vector<std::pair<std::string, Tensor>> new_states;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len = 0, role = 0, rank = 0;
    std::string name;
    PE_RETURN_IF_ERROR(r.Get(name_len, "a tensor name length"));
    if (name_len > 4096)
      return InvalidArgument("checkpoint tensor ", i, ": name length ", name_len, " too large");
    PE_RETURN_IF_ERROR(r.Bytes(name_len, name, "a tensor name"));
    PE_RETURN_IF_ERROR(r.Get(role, "a tensor role"));
    PE_RETURN_IF_ERROR(r.Get(rank, "a tensor rank"));
    if (rank > 16)
      return InvalidArgument("checkpoint tensor '", name, "': rank ", rank, " too large");
    Shape shape(rank);
    for (auto& d : shape) PE_RETURN_IF_ERROR(r.Get(d, "a tensor dimension"));
    if (!seen.emplace(std::make_pair(name, role), true).second)
      return InvalidArgument("checkpoint tensor '", name, "' (role ", role, ") appears twice");
    Shape expected;
    std::vector<float>* target = nullptr;
    int64_t offset = 0;
    if (role == kState) {
      auto it = states.find(name);
      if (it == states.end())
        return InvalidArgument("checkpoint state '", name, "' is not in this model");
      expected = it->second.shape();
    } else {
      auto it = params.find(name);
      if (it == params.end() || role > kSecond)
        return InvalidArgument("checkpoint tensor '", name, "' (role ", role,
                               ") is not a parameter of this session");
      expected = it->second->shape;
      offset = it->second->offset;
      target = role == kParameter ? &weights
               : role == kAnchor  ? &anchor
               : role == kFirst   ? &first
                                  : &second;
      if (target->empty())
        return InvalidArgument("checkpoint has optimizer state this optimizer does not use");
    }
    if (shape != expected)
      return InvalidArgument("checkpoint tensor '", name, "': shape ", ShapeToString(shape),
                             ", expected ", ShapeToString(expected));
    std::vector<float> values;
    PE_RETURN_IF_ERROR(r.Floats(ShapeElementCount(shape), values, "tensor values"));
    for (float v : values)
      if (!std::isfinite(v))
        return InvalidArgument("checkpoint tensor '", name, "' has a non-finite value");
    if (target) {
      std::copy(values.begin(), values.end(), target->begin() + offset);
    } else {
      new_states.emplace_back(name, Tensor::FromVector<float>(values, shape));
    }
  }
  for (const auto& p : m.layout)
    if (!seen.count({p.name, kParameter}))
      return InvalidArgument("checkpoint lacks parameter '", p.name, "'");
  uint64_t total = 0;
  PE_RETURN_IF_ERROR(r.Get(total, "the total length"));
  if (total != bytes.size() || r.pos() != bytes.size())
    return InvalidArgument("checkpoint length ", bytes.size(),
                           " does not match its recorded length ", total);

  std::copy(weights.begin(), weights.end(), m.weights.begin());
  m.anchor = std::move(anchor);
  m.optimizer->first() = std::move(first);
  m.optimizer->second() = std::move(second);
  m.optimizer->set_steps(static_cast<int64_t>(steps));
  m.optimizer->set_learning_rate(lr);
  for (auto& [name, t] : new_states) PE_RETURN_IF_ERROR(m.tape->SetInitializer(name, t));
  return Status::OK();
}

}  // namespace privedge
