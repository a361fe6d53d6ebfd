// privedge server: runs a federated task over gRPC; privedge server enroll-token: one-time
// device enrollment tokens.
#include "net/server.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "fl/sim/dataset.h"
#include "fl/sim/linear_model.h"
#include "store/sqlite_round_store.h"

namespace privedge::cli {
namespace {

constexpr const char* kUsage = R"(usage: privedge server --config FILE --state DIR [options]
       privedge server enroll-token --state DIR [--count N]

Runs the federated task of a task config file (see docs/federated.md) over gRPC with mutual
TLS 1.3 until it finishes, keeping its state (SQLite) in DIR: a restarted server resumes the
task and its current round. The initial model is all zeros. See docs/server.md.

  --config FILE     task config ("key = value" lines)
  --state DIR       server state: server.db, enrollment tokens, the CA (tls/) and the
                    model-signing key (created if missing)
  --listen ADDR     host:port to listen on (default 127.0.0.1:7443; port 0 picks one)
  --tls-name NAME   a host name or IP address devices reach the server by (repeatable;
                    127.0.0.1 and localhost are always in the certificate)
  --cert-days N     validity of the device certificates issued (default 30)
  --insecure        plaintext gRPC without TLS (trusted test networks only)
  --linger-ms N     keep answering this long after the task ends, so devices learn it
                    (default 3000)
  --eval-data IMAGES, --eval-labels LABELS
                    at the end, print the test accuracy of the final model as the
                    built-in linear model (the one `privedge client` trains) on these
                    IDX files

The task config may turn on secure aggregation (secure_aggregation = secagg | secaggplus,
docs/secure-aggregation.md): devices then enroll with a signing key and the server learns
only the sum of each round's updates.

enroll-token prints N (default 1) new one-time tokens, one per line, and the path of the CA
certificate on stderr (creating the CA on first use). Hand a device a token and that file:
`privedge client --token TOKEN --ca FILE --identity DIR ...` enrolls it.
)";

int EnrollToken(int argc, char** argv) {
  const std::string cmd = "server enroll-token";
  Args args;
  if (!ParseArgs(argc, argv, {"state", "count"}, {}, cmd, args)) return 1;
  if (!args.positional.empty())
    return Fail(cmd, "unexpected argument '" + args.positional[0] + "'");
  if (!args.options.count("state")) return Fail(cmd, "--state DIR is required");
  int64_t count = 1;
  if (!ParseIntOption(args, "count", 1, 10000, count, cmd)) return 1;
  Result<net::CertificateAuthority> ca = net::CertificateAuthority::LoadOrCreate(args.get("state"));
  if (!ca.ok()) return Fail(cmd, ca.status().ToString());
  std::cerr << "CA certificate: " << ca->cert_path() << std::endl;
  for (int64_t i = 0; i < count; ++i) {
    Result<std::string> token = net::IssueEnrollmentToken(args.get("state"));
    if (!token.ok()) return Fail(cmd, token.status().ToString());
    std::cout << *token << "\n";
  }
  return 0;
}

}  // namespace

int ServerCommand(int argc, char** argv) {
  if (argc >= 1 && std::string(argv[0]) == "enroll-token") return EnrollToken(argc - 1, argv + 1);
  const std::string cmd = "server";
  Args args;
  if (!ParseArgs(argc, argv,
                 {"config", "state", "listen", "linger-ms", "tls-name", "cert-days", "eval-data",
                  "eval-labels"},
                 {"insecure", "help"}, cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (!args.positional.empty())
    return Fail(cmd, "unexpected argument '" + args.positional[0] + "'");
  if (!args.options.count("config")) return Fail(cmd, "--config FILE is required");
  if (!args.options.count("state")) return Fail(cmd, "--state DIR is required");
  int64_t linger_ms = 3000;
  net::ServerOptions options;
  if (!ParseIntOption(args, "linger-ms", 0, 3600000, linger_ms, cmd) ||
      !ParseIntOption(args, "cert-days", 1, 3650, options.device_cert_days, cmd))
    return 1;
  if (args.has("insecure") && args.options.count("tls-name"))
    return Fail(cmd, "--tls-name and --insecure exclude each other");

  std::ifstream in(args.get("config"));
  if (!in) return Fail(cmd, "cannot read config '" + args.get("config") + "'");
  std::stringstream text;
  text << in.rdbuf();
  Result<fl::TaskConfig> task = fl::ParseTaskConfig(text.str());
  if (!task.ok()) return Fail(cmd, args.get("config") + ": " + task.status().ToString());

  options.listen = args.get("listen", options.listen);
  options.state_dir = args.get("state");
  options.insecure = args.has("insecure");
  options.tls_names = args.get_all("tls-name");
  Result<std::unique_ptr<net::FederatedServer>> server = net::FederatedServer::Start(*task, options);
  if (!server.ok()) return Fail(cmd, server.status().ToString());
  std::cout << "listening on port " << (*server)->port() << " (task '" << task->task_id
            << "', state " << options.state_dir << ", "
            << (options.insecure ? "insecure plaintext"
                                 : "mutual TLS 1.3, CA " + options.state_dir + "/tls/ca.crt")
            << ")" << std::endl;

  (*server)->WaitUntilDone();
  std::this_thread::sleep_for(std::chrono::milliseconds(linger_ms));
  (*server)->Shutdown();
  std::vector<std::vector<std::string>> rows;
  for (const fl::RoundMetrics& m : (*server)->Metrics()) {
    char loss[32];
    std::snprintf(loss, sizeof loss, "%.4f", m.train_loss);
    rows.push_back({std::to_string(m.round), std::to_string(m.model_version),
                    std::to_string(m.attempts), std::to_string(m.participants),
                    std::to_string(m.dropped), std::to_string(m.rejected), loss});
  }
  PrintTable({"round", "version", "attempts", "participants", "dropped", "rejected", "train loss"},
             rows);
  for (const auto& [name, value] : (*server)->Counters())
    std::cout << name << " = " << value << "\n";
  const bool failed = (*server)->Phase() == fl::TaskPhase::kFailed;
  if (args.options.count("eval-data") || args.options.count("eval-labels")) {
    server->reset();  // closes the store before it is read again
    Result<fl::sim::Dataset> test =
        fl::sim::ReadIdxPair(args.get("eval-data"), args.get("eval-labels"));
    if (!test.ok()) return Fail(cmd, test.status().ToString());
    auto store = store::SqliteRoundStore::Open(options.state_dir + "/server.db");
    if (!store.ok()) return Fail(cmd, store.status().ToString());
    auto snap = (*store)->LoadTask(task->task_id);
    if (!snap.ok() || !*snap) return Fail(cmd, "cannot read the final model of the task");
    const std::vector<float>& params = (*snap)->model.params;
    if (static_cast<int64_t>(params.size()) != fl::sim::LinearModelParams(*test))
      return Fail(cmd, "--eval-data: the model has " + std::to_string(params.size()) +
                           " parameters, not the linear model's " +
                           std::to_string(fl::sim::LinearModelParams(*test)));
    const fl::sim::Evaluation e = fl::sim::EvaluateLinearModel(params, *test);
    std::printf("final model version %lld: test accuracy %.4f, test loss %.4f (%lld examples)\n",
                static_cast<long long>((*snap)->model.version), e.accuracy, e.loss,
                static_cast<long long>(test->count));
  }
  if (failed) return Fail(cmd, "task '" + task->task_id + "' failed (too many abandoned attempts)");
  return 0;
}

}  // namespace privedge::cli
