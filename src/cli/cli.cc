#include "cli/cli.h"

#include "model/tensor_io.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace privedge::cli {

Result<KeystoreOptions> KeystoreOptionsFromArgs(const Args& args) {
  KeystoreOptions options;
  options.backend = args.get("keystore", "auto");
  if (options.backend != "auto" && options.backend != "software" && options.backend != "tpm2") {
    return InvalidArgument("--keystore expects auto, software or tpm2, got '", options.backend,
                           "'");
  }
  options.dir = args.get("keystore-dir");
  options.tpm_tcti = args.get("tpm-tcti");
  if (args.has("passphrase-file")) {
    const std::string path = args.get("passphrase-file");
    std::ifstream f(path);
    if (!f) return NotFound("cannot read passphrase file ", path);
    std::getline(f, options.passphrase);
    if (options.passphrase.empty()) return InvalidArgument("passphrase file ", path, " is empty");
  } else if (const char* p = std::getenv("PRIVEDGE_KEYSTORE_PASSPHRASE"); p != nullptr) {
    options.passphrase = p;
  }
  return options;
}

const std::set<std::string>& KeystoreArgNames() {
  static const std::set<std::string> names = {"keystore", "keystore-dir", "passphrase-file", "tpm-tcti"};
  return names;
}

const std::set<std::string> kModelValueOptions = {"keystore-dir", "keystore", "passphrase-file",
                                                   "tpm-tcti", "require-signed"};
const std::set<std::string> kModelFlagOptions = {"allow-unlocked-memory"};

std::set<std::string> WithModelOptions(std::set<std::string> base, bool flags) {
  const auto& add = flags ? kModelFlagOptions : kModelValueOptions;
  base.insert(add.begin(), add.end());
  return base;
}

Result<std::shared_ptr<Keystore>> OpenKeystoreFromArgs(const Args& args, bool create_if_missing) {
  PE_ASSIGN_OR_RETURN(KeystoreOptions ko, KeystoreOptionsFromArgs(args));
  ko.create_if_missing = create_if_missing;
  PE_ASSIGN_OR_RETURN(std::unique_ptr<Keystore> ks, OpenKeystore(ko));
  return std::shared_ptr<Keystore>(std::move(ks));
}

Status ApplyModelOptions(const Args& args, const std::string& model_path, SessionOptions& options) {
  options.require_signed_by = args.get("require-signed");
  options.allow_unlocked_model_memory = args.has("allow-unlocked-memory");
  if (!IsContainerFile(model_path)) return Status::OK();
  PE_ASSIGN_OR_RETURN(ContainerHeader header, ReadContainerHeader(model_path));
  if (header.encrypted) {
    PE_ASSIGN_OR_RETURN(options.keystore, OpenKeystoreFromArgs(args, false));
  }
  return Status::OK();
}

std::vector<std::pair<std::string, std::string>> DescribeContainer(const ContainerHeader& h) {
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("container", "privedge model container v" + std::to_string(h.format_version) +
                                     " (body v" + std::to_string(h.body_version) + ")");
  if (h.encrypted) {
    rows.emplace_back("encrypted", "XChaCha20-Poly1305, " + std::to_string(h.chunk_count()) +
                                       " chunks of " + std::to_string(h.chunk_size) +
                                       " bytes, for keystore key " + h.key_id);
  } else {
    rows.emplace_back("encrypted", "no (mapped in place)");
  }
  rows.emplace_back("signed", h.is_signed ? "by Ed25519 key " + ToHex(h.signer) : "no");
  rows.emplace_back("body", std::to_string(h.plain_size) + " bytes, BLAKE2b-256 " +
                                ToHex(h.content_digest) + " (as stored)");
  return rows;
}

std::string Args::get(const std::string& name, const std::string& def) const {
  auto it = options.find(name);
  return it == options.end() ? def : it->second;
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  std::vector<std::string> out;
  auto [a, b] = options.equal_range(name);
  for (auto it = a; it != b; ++it) out.push_back(it->second);
  return out;
}

bool ParseArgs(int argc, char** argv, const std::set<std::string>& value_options,
               const std::set<std::string>& flag_options, const std::string& command,
               Args& out) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (flag_options.count(name)) {
        if (has_value) {
          Fail(command, "option --" + name + " takes no value");
          return false;
        }
        out.flags.insert(name);
      } else if (value_options.count(name)) {
        if (!has_value) {
          if (i + 1 >= argc) {
            Fail(command, "option --" + name + " needs a value");
            return false;
          }
          value = argv[++i];
        }
        out.options.emplace(name, value);
      } else {
        Fail(command, "unknown option --" + name + " (see privedge " + command + " --help)");
        return false;
      }
    } else {
      out.positional.push_back(a);
    }
  }
  return true;
}

bool ParseIntOption(const Args& args, const std::string& name, int64_t min, int64_t max,
                    int64_t& value, const std::string& command) {
  if (!args.options.count(name)) return true;
  const std::string text = args.get(name);
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > max) {
    Fail(command, "--" + name + " expects an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + text + "'");
    return false;
  }
  value = v;
  return true;
}

Result<std::vector<InputFile>> ReadInputFiles(const Args& args, const Session& session) {
  return ReadInputFiles(args, session.inputs());
}

Result<std::vector<InputFile>> ReadInputFiles(const Args& args,
                                              const std::vector<TensorInfo>& declared) {
  std::vector<InputFile> inputs;
  if (args.positional.size() == 2) {
    if (declared.size() != 1)
      return InvalidArgument("a positional input file needs a model with exactly one input; ",
                             "this model has ", declared.size(), " (use --input NAME=FILE)");
    PE_ASSIGN_OR_RETURN(Tensor t, ReadTensorFile(args.positional[1]));
    inputs.push_back({declared[0].name, std::move(t), args.positional[1]});
  }
  for (const std::string& spec : args.get_all("input")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      return InvalidArgument("--input expects NAME=FILE, got '", spec, "'");
    PE_ASSIGN_OR_RETURN(Tensor t, ReadTensorFile(spec.substr(eq + 1)));
    inputs.push_back({spec.substr(0, eq), std::move(t), spec.substr(eq + 1)});
  }
  return inputs;
}

int Fail(const std::string& command, const std::string& message) {
  std::cerr << "privedge " << command << ": " << message << "\n";
  return 1;
}

namespace {
double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO)), start_(NowSeconds()) {}

void ProgressBar::Update(int64_t done, const std::string& note) {
  if (!enabled_ || total_ <= 0) return;
  double now = NowSeconds();
  if (now - last_draw_ < 0.1 && done < total_) return;
  last_draw_ = now;
  const int width = 30;
  int filled = static_cast<int>(width * done / total_);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld %.1fs %-40.40s", label_.c_str(), bar.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), now - start_,
               note.c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  std::fprintf(stderr, "\r%*s\r", 120, "");
  std::fflush(stderr);
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string line;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < r.size() ? r[i] : "";
      line += cell;
      if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  };
  print_row(header);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  print_row(rule);
  for (const auto& r : rows) print_row(r);
}

}  // namespace privedge::cli
