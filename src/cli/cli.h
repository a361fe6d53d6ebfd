// Shared pieces of the privedge command: argument parsing, errors, progress, tables.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "privedge/session.h"

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

}  // namespace privedge::cli
