// privedge convert: an .onnx model to a privedge model container (.pmc).
#include <iostream>

#include "cli/cli.h"
#include "crypto/signing.h"
#include "model/container.h"
#include "protect/model_file.h"
#include "runtime/session_impl.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp =
    R"(usage: privedge convert IN.onnx OUT.pmc [--encrypt] [--sign SECRET_KEY]
                        [--keystore-dir DIR] [--keystore auto|software|tpm2] [--chunk-size N]

Loads IN.onnx as 'privedge run' would (checks, graph optimization) and writes the optimized
graph and its weights (64-byte aligned, used in place when loaded) to the container OUT.
run, inspect and bench take the container like an .onnx, and load it without parsing or
optimizing again. docs/container.md describes the format.

--encrypt        encrypt for this device: a random model key, wrapped by the device keystore
                 (created if missing; passphrase from $PRIVEDGE_KEYSTORE_PASSPHRASE), encrypts
                 the body with XChaCha20-Poly1305 in chunks. Only ciphertext reaches the disk.
                 Only this device's keystore can load the result.
--sign KEY       sign with a publisher secret key file (see 'privedge sign --new-key')
--chunk-size N   plain bytes per encrypted chunk (default 1048576; 256 to 67108864)
OUT is written atomically (a temporary file in its folder, then renamed).
)";

}  // namespace

int ConvertCommand(int argc, char** argv) {
  const std::string cmd = "convert";
  Args args;
  std::set<std::string> value_options = KeystoreArgNames();
  value_options.insert({"sign", "chunk-size"});
  if (!ParseArgs(argc, argv, value_options,
                 {"help", "encrypt"}, cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 2) return Fail(cmd, "expected IN.onnx and OUT.pmc (see --help)");
  const std::string& in = args.positional[0];
  const std::string& out = args.positional[1];
  int64_t chunk = 1 << 20;
  if (!ParseIntOption(args, "chunk-size", 256, int64_t{64} << 20, chunk, cmd)) return 1;
  if (IsContainerFile(in)) return Fail(cmd, in + " is already a privedge container");

  SigningKey signing_key;
  ContainerWriteOptions write;
  write.chunk_size = static_cast<uint32_t>(chunk);
  if (args.has("sign")) {
    auto key = LoadSigningKey(args.get("sign"));
    if (!key.ok()) return Fail(cmd, key.status().message());
    signing_key = std::move(key).value();
    write.signing_key = &signing_key;
  }
  std::shared_ptr<Keystore> keystore;
  if (args.has("encrypt")) {
    auto ks = OpenKeystoreFromArgs(args, /*create_if_missing=*/true);
    if (!ks.ok()) return Fail(cmd, "keystore: " + ks.status().message());
    keystore = *ks;
    write.keystore = keystore.get();
  } else if (args.has("keystore-dir") || args.has("keystore")) {
    return Fail(cmd, "--keystore-dir and --keystore only apply with --encrypt");
  }

  // The session's model is exactly what a Session runs: optimized when every pass and its
  // plan succeeded, else as imported.
  SessionOptions options;
  options.threads = 1;
  auto session = Session::Load(in, options);
  if (!session.ok()) return Fail(cmd, session.status().message());
  auto body = SerializeModel((*session)->impl().model);
  if (!body.ok()) return Fail(cmd, in + ": " + body.status().message());
  Status written = WriteContainerFile(out, body->span(), write);
  if (!written.ok()) return Fail(cmd, written.message());
  auto header = ReadContainerHeader(out);
  if (!header.ok()) return Fail(cmd, header.status().message());
  std::cout << "wrote " << out << "\n";
  for (const auto& [k, v] : DescribeContainer(*header)) std::cout << "  " << k << ": " << v << "\n";
  return 0;
}

}  // namespace privedge::cli
