// privedge sign / verify, and publisher key pairs (privedge keys publisher NAME).
#include <iostream>

#include "cli/cli.h"
#include "crypto/signing.h"
#include "protect/model_file.h"

namespace privedge::cli {
namespace {

constexpr const char* kSignHelp = R"(usage: privedge sign FILE.pmc --key SECRET_KEY
       privedge sign --new-key NAME

Signs the container FILE with a publisher's Ed25519 secret key: the signature covers the
container header, which holds the BLAKE2b-256 digest of the body as stored (ciphertext for an
encrypted container, which stays encrypted). FILE is rewritten atomically. Loading with
--require-signed PUBKEY then accepts only containers this key signed and nobody altered.
--new-key NAME writes a new key pair: NAME.key (secret, mode 0600) and NAME.pub.
)";

constexpr const char* kVerifyHelp = R"(usage: privedge verify FILE.pmc [--pubkey PUBKEY]

Checks the container's signature and that its body matches the signed digest, and prints the
signer. With --pubkey (a public key file or 64 hex digits) the signer must be that key.
Exit status 0 when valid, 1 otherwise.
)";

constexpr const char* kPublisherHelp = R"(usage: privedge keys publisher NAME

Writes a new Ed25519 publisher key pair: NAME.key (secret, mode 0600) and NAME.pub (public).
Sign containers with 'privedge sign FILE --key NAME.key'; devices check them with
--require-signed NAME.pub. Existing files are never overwritten.
)";

int NewKeyPair(const std::string& cmd, const std::string& name) {
  Status s = GenerateSigningKey(name + ".key", name + ".pub");
  if (!s.ok()) return Fail(cmd, s.message());
  auto pub = LoadPublicKey(name + ".pub");
  if (!pub.ok()) return Fail(cmd, pub.status().message());
  std::cout << "wrote " << name << ".key (secret, keep it private) and " << name
            << ".pub (public key " << ToHex(*pub) << ")\n";
  return 0;
}

}  // namespace

int PublisherKeyCommand(int argc, char** argv) {
  const std::string cmd = "keys publisher";
  Args args;
  if (!ParseArgs(argc, argv, {}, {"help"}, cmd, args)) return 1;
  if (args.has("help")) {
    std::cout << kPublisherHelp;
    return 0;
  }
  if (args.positional.size() != 1) return Fail(cmd, "expected one NAME (see --help)");
  return NewKeyPair(cmd, args.positional[0]);
}

int SignCommand(int argc, char** argv) {
  const std::string cmd = "sign";
  Args args;
  if (!ParseArgs(argc, argv, {"key", "new-key"}, {"help"}, cmd, args)) return 1;
  if (args.has("help")) {
    std::cout << kSignHelp;
    return 0;
  }
  if (args.has("new-key")) {
    if (!args.positional.empty() || args.has("key"))
      return Fail(cmd, "--new-key NAME takes no FILE and no --key");
    return NewKeyPair(cmd, args.get("new-key"));
  }
  if (args.positional.size() != 1) return Fail(cmd, "expected one container FILE (see --help)");
  if (!args.has("key")) return Fail(cmd, "--key SECRET_KEY is required");
  auto key = LoadSigningKey(args.get("key"));
  if (!key.ok()) return Fail(cmd, key.status().message());
  Status s = SignContainerFile(args.positional[0], *key);
  if (!s.ok()) return Fail(cmd, s.message());
  std::cout << "signed " << args.positional[0] << " by " << ToHex(key->public_key()) << "\n";
  return 0;
}

int VerifyCommand(int argc, char** argv) {
  const std::string cmd = "verify";
  Args args;
  if (!ParseArgs(argc, argv, {"pubkey"}, {"help"}, cmd, args)) return 1;
  if (args.has("help")) {
    std::cout << kVerifyHelp;
    return 0;
  }
  if (args.positional.size() != 1) return Fail(cmd, "expected one container FILE (see --help)");
  PublicKey expected{};
  if (args.has("pubkey")) {
    auto pub = LoadPublicKey(args.get("pubkey"));
    if (!pub.ok()) return Fail(cmd, pub.status().message());
    expected = *pub;
  }
  auto signer = VerifyContainerFile(args.positional[0], args.has("pubkey") ? &expected : nullptr);
  if (!signer.ok()) return Fail(cmd, signer.status().message());
  std::cout << "OK: " << args.positional[0] << " signed by " << ToHex(*signer) << "\n";
  return 0;
}

}  // namespace privedge::cli
