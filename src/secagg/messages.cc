#include "secagg/messages.h"

#include <bit>
#include <cstring>

namespace privedge::secagg {

namespace {

constexpr uint8_t kMagic[4] = {'P', 'S', 'A', 1};
static_assert(std::endian::native == std::endian::little, "bulk copies assume little-endian");

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Raw(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void Bytes(std::span<const uint8_t> b) {
    U32(static_cast<uint32_t>(b.size()));
    Raw(b);
  }
  void Str(const std::string& s) { Bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}); }
  std::vector<uint8_t>& out() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  size_t left() const { return in_.size() - at_; }

  Status Need(size_t n, const char* field) {
    if (n > left()) {
      return InvalidArgument("secagg message: ", field, " at offset ", at_, " needs ", n,
                             " bytes, only ", left(), " left");
    }
    return Status::OK();
  }
  Status U8(uint8_t& v, const char* field) {
    PE_RETURN_IF_ERROR(Need(1, field));
    v = in_[at_++];
    return Status::OK();
  }
  Status U32(uint32_t& v, const char* field) {
    PE_RETURN_IF_ERROR(Need(4, field));
    v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{in_[at_++]} << (8 * i);
    return Status::OK();
  }
  Status U64(uint64_t& v, const char* field) {
    PE_RETURN_IF_ERROR(Need(8, field));
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{in_[at_++]} << (8 * i);
    return Status::OK();
  }
  template <size_t N>
  Status Fixed(std::array<uint8_t, N>& out, const char* field) {
    PE_RETURN_IF_ERROR(Need(N, field));
    std::memcpy(out.data(), in_.data() + at_, N);
    at_ += N;
    return Status::OK();
  }
  // A u32 count of items of at least `min_item_bytes` each, checked against what is left.
  Status Count(uint32_t& n, size_t min_item_bytes, size_t max, const char* field) {
    PE_RETURN_IF_ERROR(U32(n, field));
    if (n > max) {
      return InvalidArgument("secagg message: ", field, " count ", n, " above the limit ", max);
    }
    if (uint64_t{n} * min_item_bytes > left()) {
      return InvalidArgument("secagg message: ", field, " count ", n, " needs at least ",
                             uint64_t{n} * min_item_bytes, " bytes, only ", left(), " left");
    }
    return Status::OK();
  }
  // Precondition: n <= left().
  const uint8_t* Take(size_t n) {
    const uint8_t* p = in_.data() + at_;
    at_ += n;
    return p;
  }
  Status Bytes(std::vector<uint8_t>& out, size_t max, const char* field) {
    uint32_t n = 0;
    PE_RETURN_IF_ERROR(Count(n, 1, max, field));
    out.assign(in_.begin() + at_, in_.begin() + at_ + n);
    at_ += n;
    return Status::OK();
  }
  Status Str(std::string& out, size_t max, const char* field) {
    std::vector<uint8_t> b;
    PE_RETURN_IF_ERROR(Bytes(b, max, field));
    out.assign(b.begin(), b.end());
    return Status::OK();
  }

 private:
  std::span<const uint8_t> in_;
  size_t at_ = 0;
};

constexpr size_t kAdvertiseMinBytes = 4 + 4 + 32 + 32 + 64;
constexpr size_t kShareWireBytes = 4 + 8 * kShareChunks;

void WriteAdvertise(Writer& w, const AdvertiseKeys& m) {
  w.U32(m.from);
  w.Str(m.device_id);
  w.Raw(m.encryption_key);
  w.Raw(m.mask_key);
  w.Raw(m.signature);
}

Status ReadAdvertise(Reader& r, AdvertiseKeys& m) {
  PE_RETURN_IF_ERROR(r.U32(m.from, "advertise.from"));
  PE_RETURN_IF_ERROR(r.Str(m.device_id, kMaxDeviceIdBytes, "advertise.device_id"));
  PE_RETURN_IF_ERROR(r.Fixed(m.encryption_key, "advertise.encryption_key"));
  PE_RETURN_IF_ERROR(r.Fixed(m.mask_key, "advertise.mask_key"));
  return r.Fixed(m.signature, "advertise.signature");
}

void WriteShares(Writer& w, const std::vector<EncryptedShare>& shares) {
  w.U32(static_cast<uint32_t>(shares.size()));
  for (const EncryptedShare& s : shares) {
    w.U32(s.peer);
    w.Bytes(s.ciphertext);
  }
}

Status ReadShares(Reader& r, std::vector<EncryptedShare>& shares) {
  uint32_t n = 0;
  PE_RETURN_IF_ERROR(r.Count(n, 8, UINT32_MAX, "encrypted shares"));
  shares.resize(n);
  for (EncryptedShare& s : shares) {
    PE_RETURN_IF_ERROR(r.U32(s.peer, "encrypted share peer"));
    PE_RETURN_IF_ERROR(r.Bytes(s.ciphertext, kMaxCiphertextBytes, "encrypted share ciphertext"));
  }
  return Status::OK();
}

void WriteIds(Writer& w, const std::vector<uint32_t>& ids) {
  w.U32(static_cast<uint32_t>(ids.size()));
  for (uint32_t id : ids) w.U32(id);
}

Status ReadIds(Reader& r, std::vector<uint32_t>& ids, const char* field) {
  uint32_t n = 0;
  PE_RETURN_IF_ERROR(r.Count(n, 4, UINT32_MAX, field));
  ids.resize(n);
  for (uint32_t& id : ids) PE_RETURN_IF_ERROR(r.U32(id, field));
  return Status::OK();
}

struct Encoder {
  Writer& w;
  void operator()(const AdvertiseKeys& m) { WriteAdvertise(w, m); }
  void operator()(const NeighbourKeys& m) {
    w.U32(m.to);
    w.U32(static_cast<uint32_t>(m.neighbours.size()));
    for (const AdvertiseKeys& a : m.neighbours) WriteAdvertise(w, a);
  }
  void operator()(const ShareKeys& m) {
    w.U32(m.from);
    WriteShares(w, m.shares);
  }
  void operator()(const ForwardedShares& m) {
    w.U32(m.to);
    WriteShares(w, m.shares);
  }
  void operator()(const MaskedInput& m) {
    w.U32(m.from);
    w.U32(m.bits);
    w.U32(static_cast<uint32_t>(m.values.size()));
    if (m.bits <= 32) {
      std::vector<uint32_t> narrow(m.values.begin(), m.values.end());
      w.Raw({reinterpret_cast<const uint8_t*>(narrow.data()), narrow.size() * 4});
    } else {
      w.Raw({reinterpret_cast<const uint8_t*>(m.values.data()), m.values.size() * 8});
    }
  }
  void operator()(const UnmaskRequest& m) {
    w.U32(m.to);
    WriteIds(w, m.survivors);
    WriteIds(w, m.dropped);
  }
  void operator()(const UnmaskResponse& m) {
    w.U32(m.from);
    w.U32(static_cast<uint32_t>(m.shares.size()));
    for (const RevealedShare& s : m.shares) {
      w.U32(s.owner);
      w.U8(static_cast<uint8_t>(s.kind));
      w.U32(s.share.x);
      for (uint64_t y : s.share.y) w.U64(y);
    }
  }
  void operator()(const AbortNotice& m) {
    w.U32(m.to);
    w.Str(m.reason);
  }
};

Status Decode(Reader& r, uint8_t type, Message& out) {
  switch (type) {
    case 0: {
      AdvertiseKeys m;
      PE_RETURN_IF_ERROR(ReadAdvertise(r, m));
      out = std::move(m);
      return Status::OK();
    }
    case 1: {
      NeighbourKeys m;
      PE_RETURN_IF_ERROR(r.U32(m.to, "neighbour_keys.to"));
      uint32_t n = 0;
      PE_RETURN_IF_ERROR(r.Count(n, kAdvertiseMinBytes, UINT32_MAX, "neighbour_keys.neighbours"));
      m.neighbours.resize(n);
      for (AdvertiseKeys& a : m.neighbours) PE_RETURN_IF_ERROR(ReadAdvertise(r, a));
      out = std::move(m);
      return Status::OK();
    }
    case 2: {
      ShareKeys m;
      PE_RETURN_IF_ERROR(r.U32(m.from, "share_keys.from"));
      PE_RETURN_IF_ERROR(ReadShares(r, m.shares));
      out = std::move(m);
      return Status::OK();
    }
    case 3: {
      ForwardedShares m;
      PE_RETURN_IF_ERROR(r.U32(m.to, "forwarded_shares.to"));
      PE_RETURN_IF_ERROR(ReadShares(r, m.shares));
      out = std::move(m);
      return Status::OK();
    }
    case 4: {
      MaskedInput m;
      PE_RETURN_IF_ERROR(r.U32(m.from, "masked_input.from"));
      PE_RETURN_IF_ERROR(r.U32(m.bits, "masked_input.bits"));
      if (m.bits < 1 || m.bits > 64) {
        return InvalidArgument("secagg message: masked_input.bits ", m.bits, " not in 1..64");
      }
      const size_t width = m.bits <= 32 ? 4 : 8;
      uint32_t n = 0;
      PE_RETURN_IF_ERROR(r.Count(n, width, UINT32_MAX, "masked_input.values"));
      const uint8_t* raw = r.Take(size_t{n} * width);  // Count checked the size
      m.values.resize(n);
      if (width == 4) {
        for (uint32_t i = 0; i < n; ++i) {
          uint32_t v32;
          std::memcpy(&v32, raw + 4 * i, 4);
          m.values[i] = v32;
        }
      } else if (n > 0) {  // values.data() is null for an empty vector
        std::memcpy(m.values.data(), raw, size_t{n} * 8);
      }
      out = std::move(m);
      return Status::OK();
    }
    case 5: {
      UnmaskRequest m;
      PE_RETURN_IF_ERROR(r.U32(m.to, "unmask_request.to"));
      PE_RETURN_IF_ERROR(ReadIds(r, m.survivors, "unmask_request.survivors"));
      PE_RETURN_IF_ERROR(ReadIds(r, m.dropped, "unmask_request.dropped"));
      out = std::move(m);
      return Status::OK();
    }
    case 6: {
      UnmaskResponse m;
      PE_RETURN_IF_ERROR(r.U32(m.from, "unmask_response.from"));
      uint32_t n = 0;
      PE_RETURN_IF_ERROR(r.Count(n, 5 + kShareWireBytes, UINT32_MAX, "unmask_response.shares"));
      m.shares.resize(n);
      for (RevealedShare& s : m.shares) {
        PE_RETURN_IF_ERROR(r.U32(s.owner, "revealed share owner"));
        uint8_t kind = 0;
        PE_RETURN_IF_ERROR(r.U8(kind, "revealed share kind"));
        if (kind > 1) return InvalidArgument("secagg message: share kind ", int{kind}, " not 0/1");
        s.kind = static_cast<ShareKind>(kind);
        PE_RETURN_IF_ERROR(r.U32(s.share.x, "revealed share x"));
        for (uint64_t& y : s.share.y) {
          PE_RETURN_IF_ERROR(r.U64(y, "revealed share y"));
          if (y >= kFieldPrime) return InvalidArgument("secagg message: share value not in field");
        }
      }
      out = std::move(m);
      return Status::OK();
    }
    case 7: {
      AbortNotice m;
      PE_RETURN_IF_ERROR(r.U32(m.to, "abort.to"));
      PE_RETURN_IF_ERROR(r.Str(m.reason, kMaxReasonBytes, "abort.reason"));
      out = std::move(m);
      return Status::OK();
    }
  }
  return InvalidArgument("secagg message: unknown type ", int{type});
}

}  // namespace

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kAdvertiseKeys:
      return "advertise keys";
    case Stage::kShareKeys:
      return "share keys";
    case Stage::kMaskedInput:
      return "masked input collection";
    case Stage::kUnmask:
      return "unmasking";
  }
  return "unknown stage";
}

uint32_t Endpoint(const Message& message) {
  struct {
    uint32_t operator()(const AdvertiseKeys& m) { return m.from; }
    uint32_t operator()(const NeighbourKeys& m) { return m.to; }
    uint32_t operator()(const ShareKeys& m) { return m.from; }
    uint32_t operator()(const ForwardedShares& m) { return m.to; }
    uint32_t operator()(const MaskedInput& m) { return m.from; }
    uint32_t operator()(const UnmaskRequest& m) { return m.to; }
    uint32_t operator()(const UnmaskResponse& m) { return m.from; }
    uint32_t operator()(const AbortNotice& m) { return m.to; }
  } visitor;
  return std::visit(visitor, message);
}

const char* MessageName(const Message& message) {
  static const char* kNames[] = {"AdvertiseKeys",   "NeighbourKeys", "ShareKeys",
                                 "ForwardedShares", "MaskedInput",   "UnmaskRequest",
                                 "UnmaskResponse",  "AbortNotice"};
  return kNames[message.index()];
}

std::vector<uint8_t> Serialize(const Message& message) {
  Writer w;
  w.Raw(kMagic);
  w.U8(static_cast<uint8_t>(message.index()));
  std::visit(Encoder{w}, message);
  return std::move(w.out());
}

Result<Message> Parse(std::span<const uint8_t> bytes) {
  if (bytes.size() < 5 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return InvalidArgument("secagg message: missing 'PSA\\x01' header (", bytes.size(), " bytes)");
  }
  Reader r(bytes.subspan(5));
  Message out;
  PE_RETURN_IF_ERROR(Decode(r, bytes[4], out));
  if (r.left() != 0) {
    return InvalidArgument("secagg message: ", r.left(), " trailing bytes after ",
                           MessageName(out));
  }
  return out;
}

std::vector<uint8_t> AdvertisementBytes(uint64_t round_id, const AdvertiseKeys& keys) {
  Writer w;
  static const char kTag[] = "privedge-secagg-advertise-v1";
  w.Raw({reinterpret_cast<const uint8_t*>(kTag), sizeof kTag});
  w.U64(round_id);
  w.U32(keys.from);
  w.Str(keys.device_id);
  w.Raw(keys.encryption_key);
  w.Raw(keys.mask_key);
  return std::move(w.out());
}

}  // namespace privedge::secagg
