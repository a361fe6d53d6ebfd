// privedge client: a device taking part in a federated task over gRPC, training the built-in
// linear model (softmax regression) on local IDX data.
#include "net/client.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "fl/sim/dataset.h"
#include "fl/sim/linear_model.h"

namespace privedge::cli {
namespace {

constexpr const char* kUsage = R"(usage: privedge client --server ADDR --identity DIR --data IMAGES --labels LABELS [options]
       privedge client --server ADDR --identity DIR --token TOKEN --ca FILE --device-id ID ...
       privedge client --server ADDR --insecure --data IMAGES --labels LABELS [options]

Takes part in the server's federated task: checks in, downloads the model when selected,
checks its signature, trains the built-in linear model on the local data and sends only the
delta. Retries with backoff while the server is unreachable; exits when the task is over.
Mutual TLS 1.3 by default: the first run enrolls with --token and --ca (the server's CA
certificate, handed over with the token), keeping the device identity in DIR with its key
sealed by the device keystore; later runs need only --identity. See docs/server.md.

  --server ADDR        host:port of privedge server
  --data IMAGES        IDX images (.gz), e.g. train-images-idx3-ubyte.gz
  --labels LABELS      IDX labels (.gz)
  --limit N            use the first N examples (default all)
  --offset N           skip the first N examples (default 0): gives devices distinct data
  --device-id ID       this device's id (default: the identity's, else the host name)
  --token TOKEN        enroll first with this one-time token (privedge server enroll-token)
  --ca FILE            with --token: the server's CA certificate to pin
  --identity DIR       the device identity: its Ed25519 key sealed by the device keystore,
                       which authenticates it (TLS certificate) and signs its secure
                       aggregation keys, with the certificate and pinned keys. Created at
                       enrollment. With --insecure it holds only the sealed signing key
                       (created on first use); without it, an --insecure device makes a key
                       for this run only, so a task with secure aggregation needs it to
                       enroll in the same run
  --tls-name NAME      name to expect in the server certificate (default: the host of ADDR)
  --keystore auto|software|tpm2, --keystore-dir DIR, --passphrase-file FILE, --tpm-tcti T
                       the device keystore sealing the identity key (see privedge keys)
  --insecure           plaintext gRPC without TLS (trusted test networks only)
  --max-run-s S        give up after S seconds (default: run until the task ends)
  --poll-ms N          longest wait between check-ins (default 1000)
  --dropout P          test aid: with probability P a selected device goes silent for the
                       round (trains nothing, sends nothing), as a device killed mid-round
  --require-idle, --require-charging, --require-unmetered
                       policy: train only then; --busy, --on-battery, --metered stand in
                       for the platform's report of the device's state
)";

constexpr const char* kIdentityContext = "privedge-secagg-identity";

// An --insecure device's Ed25519 identity (libsodium's 64-byte secret key), kept in
// --identity DIR wrapped by the device keystore, or a fresh one for this run. (Over TLS the
// identity key lives with the certificate: net/device_identity.h.)
Result<SecureBuffer> LoadOrCreateSigningKey(const Args& args) {
  if (!args.has("identity")) {
    PE_ASSIGN_OR_RETURN(SecureBuffer sk, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_keypair(pk, sk.data());
    return sk;
  }
  const std::string dir = args.get("identity");
  const std::string path = dir + "/signing.key.sealed";
  PE_ASSIGN_OR_RETURN(std::shared_ptr<Keystore> keystore, OpenKeystoreFromArgs(args, true));
  if (std::ifstream in{path, std::ios::binary}) {
    const std::vector<uint8_t> blob((std::istreambuf_iterator<char>(in)), {});
    Result<SecureBuffer> unwrapped = keystore->Unwrap(blob, kIdentityContext);
    if (!unwrapped.ok())
      return PermissionDenied("--identity ", path, ": ", unwrapped.status().message());
    SecureBuffer sk = std::move(*unwrapped);
    if (sk.size() != crypto_sign_SECRETKEYBYTES)
      return InvalidArgument("--identity ", path, ": key of ", sk.size(), " bytes, expected ",
                             crypto_sign_SECRETKEYBYTES);
    return sk;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return IoError("cannot create --identity ", dir, ": ", std::strerror(errno));
  PE_ASSIGN_OR_RETURN(SecureBuffer sk, SecureBuffer::Allocate(crypto_sign_SECRETKEYBYTES));
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk.data());
  PE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, keystore->Wrap(sk.span(), kIdentityContext));
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create --identity ", path, ": ", std::strerror(errno));
  const bool written = write(fd, blob.data(), blob.size()) == static_cast<ssize_t>(blob.size());
  if (close(fd) != 0 || !written) return IoError("cannot write --identity ", path);
  return sk;
}

// Test aid: a device that, with probability p, drops out of the round it was selected for.
class DroppingTrainer : public fl::LocalTrainer {
 public:
  DroppingTrainer(fl::LocalTrainer& inner, double p, uint64_t seed)
      : inner_(inner), p_(p), rng_(seed) {}
  Result<fl::LocalTrainingResult> Train(std::span<const float> global,
                                        const fl::TrainingConfig& config) override {
    // Sticky per model: a device that dropped stays silent for the rest of that round.
    const bool same = dropped_on_.size() == global.size() &&
                      std::equal(global.begin(), global.end(), dropped_on_.begin());
    if (same || std::uniform_real_distribution<double>(0, 1)(rng_) < p_) {
      dropped_on_.assign(global.begin(), global.end());
      return Aborted("simulated dropout (--dropout)");
    }
    return inner_.Train(global, config);
  }

 private:
  fl::LocalTrainer& inner_;
  double p_;
  std::mt19937_64 rng_;
  std::vector<float> dropped_on_;
};

}  // namespace

int ClientCommand(int argc, char** argv) {
  const std::string cmd = "client";
  Args args;
  std::set<std::string> value_options = {
      "server",    "data",    "labels",  "limit", "offset", "device-id", "token",
      "max-run-s", "poll-ms", "dropout", "ca",    "identity", "tls-name"};
  value_options.insert(KeystoreArgNames().begin(), KeystoreArgNames().end());
  if (!ParseArgs(argc, argv, value_options,
                 {"insecure", "help", "require-idle", "require-charging", "require-unmetered",
                  "busy", "on-battery", "metered"},
                 cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional.empty())
    return Fail(cmd, "unexpected argument '" + args.positional[0] + "'");
  for (const char* required : {"server", "data", "labels"})
    if (!args.options.count(required))
      return Fail(cmd, std::string("--") + required + " is required");
  const bool insecure = args.has("insecure");
  if (insecure && args.options.count("ca"))
    return Fail(cmd, "--insecure excludes --ca (there is no TLS to pin it for)");
  if (!insecure && !args.options.count("identity"))
    return Fail(cmd, "--identity DIR is required (or --insecure for plaintext gRPC)");
  if (!insecure && args.options.count("token") && !args.options.count("ca"))
    return Fail(cmd, "enrolling over TLS needs --ca FILE (the server's CA certificate)");
  int64_t limit = 0, offset = 0, max_run_s = 0, poll_ms = 1000;
  if (!ParseIntOption(args, "limit", 1, int64_t{1} << 31, limit, cmd) ||
      !ParseIntOption(args, "offset", 0, int64_t{1} << 31, offset, cmd) ||
      !ParseIntOption(args, "max-run-s", 1, 30 * 86400, max_run_s, cmd) ||
      !ParseIntOption(args, "poll-ms", 1, 3600000, poll_ms, cmd))
    return 1;

  double dropout = 0;
  if (args.options.count("dropout")) {
    char* end = nullptr;
    const std::string text = args.get("dropout");
    dropout = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(dropout >= 0 && dropout < 1))
      return Fail(cmd, "--dropout expects a probability in [0, 1), got '" + text + "'");
  }

  Result<fl::sim::Dataset> data =
      fl::sim::ReadIdxPair(args.get("data"), args.get("labels"), limit > 0 ? offset + limit : 0);
  if (!data.ok()) return Fail(cmd, data.status().ToString());
  if (offset >= data->count)
    return Fail(cmd, "--offset " + std::to_string(offset) + " is past the " +
                         std::to_string(data->count) + " examples");
  std::vector<int64_t> indices;
  for (int64_t i = offset; i < data->count; ++i) indices.push_back(i);

  net::ClientOptions options;
  options.server = args.get("server");
  options.insecure = insecure;
  std::shared_ptr<Keystore> keystore;
  if (!insecure) {
    options.identity_dir = args.get("identity");
    options.tls_server_name = args.get("tls-name");
    Result<std::shared_ptr<Keystore>> ks = OpenKeystoreFromArgs(args, args.options.count("token"));
    if (!ks.ok()) return Fail(cmd, ks.status().ToString());
    keystore = *ks;
    options.keystore = keystore.get();
    if (args.options.count("ca")) {
      std::ifstream in(args.get("ca"));
      std::stringstream pem;
      pem << in.rdbuf();
      if (!in || pem.str().empty()) return Fail(cmd, "cannot read --ca '" + args.get("ca") + "'");
      options.ca_cert_pem = pem.str();
    }
  }
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  // With an enrolled identity the device id comes from its certificate.
  const bool enrolled = !insecure && !args.options.count("token");
  options.device_id = args.get("device-id", enrolled ? "" : host);
  options.max_poll_ms = poll_ms;
  options.max_run_ms = max_run_s * 1000;
  options.policy.require_idle = args.has("require-idle");
  options.policy.require_charging = args.has("require-charging");
  options.policy.require_unmetered = args.has("require-unmetered");
  options.policy.policy_recheck_ms = poll_ms;
  options.conditions.idle = !args.has("busy");
  options.conditions.charging = !args.has("on-battery");
  options.conditions.unmetered = !args.has("metered");
  options.backoff.initial_ms = 200;
  options.backoff.max_ms = 10000;

  if (sodium_init() < 0) return Fail(cmd, "libsodium failed to initialize");
  if (insecure) {
    Result<SecureBuffer> signing_key = LoadOrCreateSigningKey(args);
    if (!signing_key.ok()) return Fail(cmd, signing_key.status().ToString());
    options.signing_key = std::make_shared<const SecureBuffer>(std::move(*signing_key));
  }

  fl::sim::LinearModelTrainer trainer(*data, indices, static_cast<uint64_t>(getpid()));
  DroppingTrainer dropping(trainer, dropout, static_cast<uint64_t>(getpid()) * 7919);
  net::FederatedClient client(options, dropping);
  if (args.options.count("token")) {
    Status enrolled = client.Enroll(args.get("token"));
    if (!enrolled.ok()) return Fail(cmd, enrolled.ToString());
    std::cout << "enrolled as '" << options.device_id << "'" << std::endl;
  }
  Result<net::ClientReport> report = client.Run();
  if (!report.ok()) return Fail(cmd, report.status().ToString());
  for (const std::string& line : report->log) std::cout << line << "\n";
  if (report->models_refused > 0)
    std::cout << report->models_refused << " models refused (bad signature)" << std::endl;
  std::cout << client.device_id() << ": " << report->updates_accepted << " updates accepted"
            << (report->task_done ? ", task over" : ", stopped (time limit)") << std::endl;
  return 0;
}

}  // namespace privedge::cli
