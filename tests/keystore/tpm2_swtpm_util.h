// A real software TPM (Debian swtpm) for tests: `swtpm socket --tpm2` on free loopback ports,
// with its state in a directory, killed and reaped on destruction.
//
//   auto tpm = privedge::testing::Swtpm::Start(state_dir);   // Result<unique_ptr<Swtpm>>
//   options.tpm_tcti = (*tpm)->tcti();                     // "swtpm:host=127.0.0.1,port=P"
#pragma once

#include "testing/temp_dir.h"

#include <sys/types.h>

#include <memory>
#include <string>

#include "privedge/status.h"

namespace privedge::testing {

class Swtpm {
 public:
  // Starts swtpm with its state in `state_dir` (created if missing; reusing a directory
  // restarts the same TPM) and waits until it accepts connections. Errors: swtpm is not
  // installed (NotFound, saying to run scripts/install-deps.sh), it does not come up within a
  // few seconds (Aborted, with its exit status).
  static Result<std::unique_ptr<Swtpm>> Start(const std::string& state_dir);
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // Power-cycles the TPM through swtpm's control channel (CMD_INIT): transient objects and
  // saved contexts are gone, the seeds stay. The TPM then needs TPM2_Startup, as after a boot.
  Status Reset();

  std::string tcti() const;
  int port() const { return port_; }

 private:
  Swtpm(pid_t pid, int port) : pid_(pid), port_(port) {}
  pid_t pid_;
  int port_;
};

// A loopback TCP port on which nothing listens (bound, then released).
int UnusedLoopbackPort();

}  // namespace privedge::testing
