#include "net/model_signature.h"

#include <unistd.h>

#include <cstring>
#include <vector>

namespace privedge::net {
namespace {

std::vector<uint8_t> Message(const std::string& task_id, int64_t version,
                             const std::string& digest) {
  static constexpr char kTag[] = "privedge.v1.model";
  std::vector<uint8_t> m(kTag, kTag + sizeof kTag);  // with its terminating 0
  const uint32_t len = static_cast<uint32_t>(task_id.size());
  for (int i = 0; i < 4; ++i) m.push_back(static_cast<uint8_t>(len >> (8 * i)));
  m.insert(m.end(), task_id.begin(), task_id.end());
  const uint64_t v = static_cast<uint64_t>(version);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<uint8_t>(v >> (8 * i)));
  m.insert(m.end(), digest.begin(), digest.end());
  return m;
}

}  // namespace

Signature SignModel(const SigningKey& key, const std::string& task_id, int64_t version,
                    const std::string& digest) {
  return key.Sign(Message(task_id, version, digest));
}

Status VerifyModel(const PublicKey& key, const std::string& task_id, int64_t version,
                   const std::string& digest, std::string_view signature) {
  Signature sig{};
  if (signature.size() != sig.size())
    return Unauthenticated("model ", task_id, " version ", version, ": expected a ", sig.size(),
                           "-byte signature, got ", signature.size(), " bytes");
  std::memcpy(sig.data(), signature.data(), sig.size());
  Status st = Verify(key, Message(task_id, version, digest), sig);
  if (!st.ok())
    return Unauthenticated("model ", task_id, " version ", version,
                           ": signature does not verify with the pinned server key");
  return Status::OK();
}

Result<SigningKey> LoadOrCreateModelSigningKey(const std::string& state_dir) {
  const std::string secret = state_dir + "/model_signing.key";
  if (access(secret.c_str(), F_OK) != 0) {
    Status made = GenerateSigningKey(secret, state_dir + "/model_signing.pub");
    // Another process may have won the race; load what it wrote.
    if (!made.ok() && access(secret.c_str(), F_OK) != 0) return made;
  }
  return LoadSigningKey(secret);
}

}  // namespace privedge::net
