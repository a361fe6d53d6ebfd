// privedge store: put, get, list, count and delete-silo on a secure store directory.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>

#include "cli/cli.h"
#include "privedge/keystore.h"
#include "privedge/secure_store.h"

namespace privedge::cli {
namespace {

constexpr const char* kHelp = R"(usage: privedge store <action> DIR ... [--keystore-dir DIR]

  put DIR SILO FILE|- [--key KEY]   store the bytes of FILE (or stdin) as one record; with --key,
                                    under KEY (replacing its earlier value). Creates the store,
                                    the silo and the device key when missing.
  get DIR SILO (--key KEY | --seq N) [--out FILE]
                                    write the value of KEY, or of record N, to stdout or FILE
  list DIR                          silos with their record counts and log sizes
  count DIR SILO                    number of live records
  delete-silo DIR SILO              destroy the silo's key, then its records

Records are encrypted with the silo's key, which the device keystore wraps (--keystore-dir:
the software keystore's directory; default $PRIVEDGE_HOME/keys or ~/.local/share/privedge/keys).
)";

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Reads a whole file (or stdin for "-") into locked memory.
Result<SecureBuffer> ReadInput(const std::string& path) {
  const int fd = path == "-" ? STDIN_FILENO : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open ", path, ": ", strerror(errno));
  PE_ASSIGN_OR_RETURN(SecureBuffer buf, SecureBuffer::Allocate(4096));
  size_t size = 0;
  for (;;) {
    if (size == buf.size()) {
      PE_ASSIGN_OR_RETURN(SecureBuffer bigger, SecureBuffer::Allocate(2 * buf.size()));
      std::memcpy(bigger.data(), buf.data(), size);
      buf = std::move(bigger);
    }
    const ssize_t n = read(fd, buf.data() + size, buf.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string error = strerror(errno);
      if (fd != STDIN_FILENO) close(fd);
      return IoError("cannot read ", path, ": ", error);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (fd != STDIN_FILENO) close(fd);
  PE_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(size));
  if (size > 0) std::memcpy(out.data(), buf.data(), size);
  return out;
}

Status WriteOutput(const std::string& path, std::span<const uint8_t> bytes) {
  const int fd = path.empty() ? STDOUT_FILENO
                              : open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create ", path, ": ", strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (fd != STDOUT_FILENO) close(fd);
  if (done != bytes.size()) return IoError("cannot write ", path.empty() ? "stdout" : path);
  return Status::OK();
}

Result<std::unique_ptr<SecureStore>> OpenStore(const Args& args, bool create) {
  PE_ASSIGN_OR_RETURN(std::shared_ptr<Keystore> ks, OpenKeystoreFromArgs(args, create));
  SecureStoreOptions options;
  options.create_if_missing = create;
  return SecureStore::Open(args.positional[1], std::move(ks), options);
}

int Run(const Args& args) {
  const std::string cmd = "store";
  const std::string& action = args.positional[0];
  const size_t n = args.positional.size();
  const bool put = action == "put";
  const size_t expected = put ? 4 : action == "list" ? 2 : 3;
  if (!put && action != "get" && action != "list" && action != "count" && action != "delete-silo") {
    return Fail(cmd,
                "unknown action '" + action + "': expected put, get, list, count or delete-silo");
  }
  if (n != expected) {
    return Fail(cmd, action + " takes " + std::to_string(expected - 1) + " arguments, got " +
                         std::to_string(n - 1) + " (see privedge store --help)");
  }
  auto store = OpenStore(args, put);
  if (!store.ok()) return Fail(cmd, store.status().message());
  SecureStore& s = **store;
  if (action == "list") {
    auto silos = s.ListSilos();
    if (!silos.ok()) return Fail(cmd, silos.status().message());
    std::vector<std::vector<std::string>> rows;
    for (const std::string& silo : *silos) {
      auto stats = s.Stats(silo);
      if (!stats.ok()) return Fail(cmd, stats.status().message());
      rows.push_back({silo, std::to_string(stats->live_records), std::to_string(stats->log_bytes)});
    }
    PrintTable({"silo", "records", "log bytes"}, rows);
    return 0;
  }
  const std::string& silo = args.positional[2];
  Status st;
  if (put) {
    auto input = ReadInput(args.positional[3]);
    if (!input.ok()) return Fail(cmd, input.status().message());
    auto silos = s.ListSilos();
    if (!silos.ok()) return Fail(cmd, silos.status().message());
    if (std::find(silos->begin(), silos->end(), silo) == silos->end()) st = s.CreateSilo(silo);
    if (st.ok() && args.has("key")) {
      st = s.Put(silo, Bytes(args.get("key")), input->span());
      if (st.ok()) std::cout << "put key '" << args.get("key") << "' in silo " << silo << "\n";
    } else if (st.ok()) {
      auto seq = s.Append(silo, input->span());
      st = seq.status();
      if (seq.ok()) std::cout << "appended record " << *seq << " to silo " << silo << "\n";
    }
  } else if (action == "count") {
    auto count = s.Count(silo);
    st = count.status();
    if (count.ok()) std::cout << *count << "\n";
  } else if (action == "delete-silo") {
    st = s.DeleteSilo(silo);
    if (st.ok()) std::cout << "deleted silo " << silo << " (key destroyed)\n";
  } else if (args.has("key")) {
    auto value = s.Get(silo, Bytes(args.get("key")));
    st = value.ok() ? WriteOutput(args.get("out"), value->span()) : value.status();
  } else {
    int64_t seq = -1;
    if (!args.has("seq")) return Fail(cmd, "get needs --key KEY or --seq N");
    if (!ParseIntOption(args, "seq", 0, INT64_MAX, seq, cmd)) return 1;
    bool found = false;
    st = s.Scan(silo, [&](const SecureRecord& r) {
      if (r.seq != static_cast<uint64_t>(seq)) return Status::OK();
      found = true;
      return WriteOutput(args.get("out"), r.value);
    });
    if (st.ok() && !found) st = NotFound("silo '", silo, "' has no live record ", seq);
  }
  return st.ok() ? 0 : Fail(cmd, st.message());
}

}  // namespace

int StoreCommand(int argc, char** argv) {
  Args args;
  std::set<std::string> value_options = KeystoreArgNames();
  value_options.insert({"key", "seq", "out"});
  if (!ParseArgs(argc, argv, value_options, {"help"}, "store", args)) {
    return 1;
  }
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.empty())
    return Fail("store", "expected an action (see privedge store --help)");
  return Run(args);
}

}  // namespace privedge::cli
