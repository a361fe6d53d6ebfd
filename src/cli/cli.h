// Shared pieces of the privedge command: argument parsing, errors, progress, tables.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "privedge/keystore.h"
#include "privedge/session.h"
#include "protect/model_file.h"

namespace privedge::cli {

// Parsed command line of one subcommand. Options take a value ("--threads 2" or
// "--threads=2"); flags do not. Unknown options are errors.
struct Args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;
  std::set<std::string> flags;

  bool has(const std::string& name) const { return flags.count(name) || options.count(name); }
  std::string get(const std::string& name, const std::string& def = "") const;
  std::vector<std::string> get_all(const std::string& name) const;
};

// Returns false and prints "privedge <cmd>: <error>" on bad arguments.
bool ParseArgs(int argc, char** argv, const std::set<std::string>& value_options,
               const std::set<std::string>& flag_options, const std::string& command, Args& out);

// Parses a positive integer option; prints an error and returns false when invalid.
bool ParseIntOption(const Args& args, const std::string& name, int64_t min, int64_t max,
                    int64_t& value, const std::string& command);

// An input tensor named on the command line and the file it came from.
struct InputFile {
  std::string name;
  Tensor tensor;
  std::string path;
};

// Reads the inputs named on the command line (run, bench): a positional INPUT_FILE after the
// model (only for single-input models) and every --input NAME=FILE, as .npy or .pb files.
Result<std::vector<InputFile>> ReadInputFiles(const Args& args, const Session& session);
// The same given the model's declared inputs (an IsolatedSession's).
Result<std::vector<InputFile>> ReadInputFiles(const Args& args,
                                              const std::vector<TensorInfo>& declared);

// Options every command that loads a model accepts (containers: keystore, signatures):
//   --keystore-dir DIR, --keystore auto|software|tpm2, --require-signed PUBKEY (values)
//   --allow-unlocked-memory (flag). The passphrase comes from $PRIVEDGE_KEYSTORE_PASSPHRASE.
extern const std::set<std::string> kModelValueOptions;
extern const std::set<std::string> kModelFlagOptions;
// The options above plus `base`.
std::set<std::string> WithModelOptions(std::set<std::string> base, bool flags);
// Opens the keystore the keystore options name.
Result<std::shared_ptr<Keystore>> OpenKeystoreFromArgs(const Args& args, bool create_if_missing);
// Sets the container options of `options` from `args`; the keystore is opened only when
// `model_path` is an encrypted container.
Status ApplyModelOptions(const Args& args, const std::string& model_path, SessionOptions& options);
// "signed by <hex>", "encrypted for key <id>, 1 MiB chunks", ... for a container header.
std::vector<std::pair<std::string, std::string>> DescribeContainer(const ContainerHeader& h);

// Prints "privedge <cmd>: <message>" to stderr and returns exit code 1.
int Fail(const std::string& command, const std::string& message);

// A progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  void Update(int64_t done, const std::string& note = "");
  void Finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  double start_;
  double last_draw_ = -1;
};

// Column-aligned table printing.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

int RunCommand(int argc, char** argv);
int InspectCommand(int argc, char** argv);
int ConformanceCommand(int argc, char** argv);
int PrivacyCommand(int argc, char** argv);
int BenchCommand(int argc, char** argv);
int KeysCommand(int argc, char** argv);
int SimulateCommand(int argc, char** argv);
// privedge server (and server enroll-token), privedge client: federated learning over gRPC.
int ServerCommand(int argc, char** argv);
int ClientCommand(int argc, char** argv);

// Keystore selection shared by every command that opens the device keystore:
// --keystore auto|software|tpm2, --keystore-dir DIR, --passphrase-file FILE (or
// $PRIVEDGE_KEYSTORE_PASSPHRASE).
const std::set<std::string>& KeystoreArgNames();
Result<KeystoreOptions> KeystoreOptionsFromArgs(const Args& args);
int DatasetCommand(int argc, char** argv);
int StoreCommand(int argc, char** argv);
int ConvertCommand(int argc, char** argv);
int SignCommand(int argc, char** argv);
int VerifyCommand(int argc, char** argv);
// `privedge keys publisher NAME`: writes NAME.key (0600) and NAME.pub (argv starts at NAME).
int PublisherKeyCommand(int argc, char** argv);
int TrainCommand(int argc, char** argv);
int EvalCommand(int argc, char** argv);

}  // namespace privedge::cli
