// privedge keys: the device keystore (init, show, export-public, rotate).
#include <fstream>
#include <iostream>

#include "cli/cli.h"
#include "keystore/software_keystore.h"
#include "keystore/tpm2/tpm2_keystore.h"
#include "privedge/keystore.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp =
    R"(usage: privedge keys init [--keystore auto|software|tpm2] [--keystore-dir DIR]
                          [--passphrase-file FILE]
       privedge keys show [keystore options]
       privedge keys export-public [--out FILE] [keystore options]
       privedge keys rotate [keystore options]
       privedge keys publisher NAME

init           create this device's key (software: a random key in DIR/device-key.1, mode 0600,
               wrapped by a passphrase when one is given; tpm2: a key held by the TPM)
show           backend, key id and directory of the device key
export-public  the device's public identity (backend and key id), to register the device
rotate         make a new device key generation; models and data wrapped under older
               generations still open, new ones use the new key
publisher      a model publisher's Ed25519 signing key pair: NAME.key (secret, 0600) and
               NAME.pub, for `privedge convert --sign` / `privedge sign` and
               `--require-signed NAME.pub`

--keystore B         auto (TPM 2.0 when present, else software; the default), software, tpm2
--keystore-dir DIR   where the keystore keeps its files (default $PRIVEDGE_HOME/keys, else
                     ~/.local/share/privedge/keys)
--tpm-tcti CONF      tpm2: which TPM (default $PRIVEDGE_TPM_TCTI, else device:/dev/tpmrm0;
                     e.g. swtpm:host=127.0.0.1,port=2321)
--passphrase-file F  software keystore: read the passphrase from the first line of F
                     (or set PRIVEDGE_KEYSTORE_PASSPHRASE)
)";

int Show(const Keystore& ks, const KeystoreOptions& options, const std::string& cmd) {
  PrintTable({"field", "value"}, {{"backend", ks.backend()},
                                  {"key id", ks.key_id()},
                                  {"directory", keystore::ResolveKeystoreDir(options)}});
  return 0;
}

}  // namespace

int KeysCommand(int argc, char** argv) {
  const std::string cmd = "keys";
  if (argc < 1 || std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h") {
    std::cout << kHelp;
    return argc < 1 ? 1 : 0;
  }
  const std::string sub = argv[0];
  if (sub == "publisher") return PublisherKeyCommand(argc - 1, argv + 1);
  std::set<std::string> value_options = KeystoreArgNames();
  if (sub == "export-public") value_options.insert("out");
  Args args;
  if (!ParseArgs(argc - 1, argv + 1, value_options, {}, cmd + " " + sub, args)) return 1;
  if (!args.positional.empty()) {
    return Fail(cmd + " " + sub, "unexpected argument '" + args.positional[0] + "'");
  }
  auto options = KeystoreOptionsFromArgs(args);
  if (!options.ok()) return Fail(cmd + " " + sub, options.status().message());

  if (sub == "init") {
    // Refuse to silently reuse an existing key: init is for a device without one.
    KeystoreOptions probe = *options;
    probe.create_if_missing = false;
    if (OpenKeystore(probe).ok()) {
      return Fail(cmd + " init", "a device key already exists in " +
                                     keystore::ResolveKeystoreDir(*options) +
                                     " (use `privedge keys rotate` for a new one)");
    }
    options->create_if_missing = true;
    auto ks = OpenKeystore(*options);
    if (!ks.ok()) return Fail(cmd + " init", ks.status().message());
    return Show(**ks, *options, cmd);
  }
  if (sub == "show" || sub == "export-public") {
    auto ks = OpenKeystore(*options);
    if (!ks.ok()) return Fail(cmd + " " + sub, ks.status().message());
    if (sub == "show") return Show(**ks, *options, cmd);
    const std::string line =
        "privedge-device-key-v1 " + (*ks)->backend() + " " + (*ks)->key_id() + "\n";
    if (!args.has("out")) {
      std::cout << line;
      return 0;
    }
    std::ofstream out(args.get("out"));
    if (!(out << line)) return Fail(cmd + " export-public", "cannot write " + args.get("out"));
    return 0;
  }
  if (sub == "rotate") {
    auto before = OpenKeystore(*options);
    if (!before.ok()) return Fail(cmd + " rotate", before.status().message());
    KeystoreOptions resolved = *options;
    resolved.dir = keystore::ResolveKeystoreDir(*options);
    auto id = (*before)->backend() == "tpm2" ? keystore::RotateTpm2Key(resolved)
                                             : keystore::RotateSoftwareKey(resolved);
    if (!id.ok()) return Fail(cmd + " rotate", id.status().message());
    PrintTable({"field", "value"}, {{"previous key id", (*before)->key_id()}, {"new key id", *id}});
    return 0;
  }
  return Fail(cmd, "unknown subcommand '" + sub + "' (expected init, show, export-public, rotate, publisher)");
}

}  // namespace privedge::cli
