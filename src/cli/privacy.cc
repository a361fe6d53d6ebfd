// privedge privacy: the (epsilon, delta) a training run spends, and the noise a target needs.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "cli/cli.h"
#include "privedge/privacy.h"

namespace privedge::cli {
namespace {

namespace dp = privedge::privacy;

constexpr const char* kHelp =
    R"(usage: privedge privacy epsilon --sampling-rate Q --noise-multiplier Z --steps T
                                --delta D [--conversion improved|classic] [--verbose] [--json]
       privedge privacy sigma --epsilon E --delta D [--sampling-rate Q --steps T]
                              [--conversion improved|classic] [--json]

epsilon   the (epsilon, delta) spent by T steps of the sampled Gaussian mechanism (DP-SGD,
          DP-FedAvg): each step samples each example or device with probability Q, clips each
          contribution to L2 norm C and adds Gaussian noise of standard deviation Z * C.
          Renyi DP accountant over orders 1.1..10.9, 11..63, 128..1024.
sigma     with --sampling-rate and --steps: the smallest noise multiplier Z for which T steps
          stay within (E, D). Without them: the analytic Gaussian sigma (Balle and Wang 2018)
          for one release of a query with L2 sensitivity 1 (multiply by the sensitivity).

--sampling-rate Q    probability that one example (or device) takes part in a step, in (0, 1]
--noise-multiplier Z noise standard deviation divided by the clip norm, > 0
--steps T            number of steps (or rounds), >= 1
--delta D            the delta of the guarantee, in (0, 1); well below 1/(number of people)
--epsilon E          the target epsilon, > 0
--conversion C       RDP to (epsilon, delta): improved (Balle et al. 2020, the default) or
                     classic (Mironov 2017; older TensorFlow Privacy figures)
--verbose            also print the optimal Renyi order and the conversion
--json               print one JSON object
)";

// "%.*g": 6 significant digits for people, 17 (exact round trip) for JSON.
std::string FormatNumber(double v, int digits = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// Parses a required floating-point option with lo < value (or lo <= value) and value <= hi
// (or < hi). Prints the error and returns false when missing or invalid.
bool ParseNumber(const Args& args, const std::string& name, double lo, bool lo_closed, double hi,
                 bool hi_closed, double& value, const std::string& command) {
  // Built with append: GCC 12 warns falsely (-Wrestrict) on a chain of string operator+.
  std::string range = lo_closed ? "[" : "(";
  range.append(FormatNumber(lo)).append(", ").append(std::isinf(hi) ? "inf" : FormatNumber(hi));
  range.append(hi_closed ? "]" : ")");
  if (!args.options.count(name)) {
    Fail(command, "missing --" + name + " (a number in " + range + ")");
    return false;
  }
  const std::string text = args.get(name);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const bool in_range = (lo_closed ? v >= lo : v > lo) && (hi_closed ? v <= hi : v < hi);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || !in_range) {
    Fail(command, "--" + name + " expects a number in " + range + ", got '" + text + "'");
    return false;
  }
  value = v;
  return true;
}

bool ParseSteps(const Args& args, int64_t& steps, const std::string& command) {
  if (!args.options.count("steps")) {
    Fail(command, "missing --steps (an integer >= 1)");
    return false;
  }
  return ParseIntOption(args, "steps", 1, std::numeric_limits<int64_t>::max(), steps, command);
}

bool ParseConversion(const Args& args, dp::RdpConversion& conversion, const std::string& command) {
  const std::string name = args.get("conversion", "improved");
  if (name == "improved") {
    conversion = dp::RdpConversion::kImproved;
  } else if (name == "classic") {
    conversion = dp::RdpConversion::kClassic;
  } else {
    Fail(command, "--conversion expects 'improved' or 'classic', got '" + name + "'");
    return false;
  }
  return true;
}

// A number for JSON: the shortest of 15..17 significant digits that reads back exactly; null
// for infinity (JSON has no infinity).
std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  for (int digits = 15;; ++digits) {
    std::string text = FormatNumber(v, digits);
    if (digits == 17 || std::strtod(text.c_str(), nullptr) == v) return text;
  }
}

int EpsilonCommand(const Args& args, const std::string& cmd) {
  double q = 0, z = 0, delta = 0;
  int64_t steps = 0;
  dp::AccountingOptions options;
  if (!ParseNumber(args, "sampling-rate", 0, false, 1, true, q, cmd) ||
      !ParseNumber(args, "noise-multiplier", 0, false, INFINITY, false, z, cmd) ||
      !ParseSteps(args, steps, cmd) ||
      !ParseNumber(args, "delta", 0, false, 1, false, delta, cmd) ||
      !ParseConversion(args, options.conversion, cmd))
    return 1;
  auto eps = dp::ComputeEpsilon(q, z, steps, delta, options);
  if (!eps.ok()) return Fail(cmd, eps.status().message());
  const std::string conversion = args.get("conversion", "improved");
  if (args.has("json")) {
    std::cout << "{\"epsilon\": " << JsonNumber(eps->epsilon)
              << ", \"delta\": " << JsonNumber(delta) << ", \"order\": " << JsonNumber(eps->order)
              << ", \"sampling_rate\": " << JsonNumber(q)
              << ", \"noise_multiplier\": " << JsonNumber(z) << ", \"steps\": " << steps
              << ", \"conversion\": \"" << conversion << "\"}\n";
    return 0;
  }
  std::cout << "epsilon: " << FormatNumber(eps->epsilon) << "\n";
  if (args.has("verbose")) {
    std::cout << "delta: " << FormatNumber(delta) << "\n"
              << "optimal order: " << FormatNumber(eps->order) << "\n"
              << "conversion: " << conversion << "\n";
  }
  return 0;
}

int SigmaCommand(const Args& args, const std::string& cmd) {
  double epsilon = 0, delta = 0;
  dp::AccountingOptions options;
  if (!ParseNumber(args, "epsilon", 0, false, INFINITY, false, epsilon, cmd) ||
      !ParseNumber(args, "delta", 0, false, 1, false, delta, cmd) ||
      !ParseConversion(args, options.conversion, cmd))
    return 1;
  const bool accountant = args.has("sampling-rate") || args.has("steps");
  if (args.has("noise-multiplier")) return Fail(cmd, "sigma does not take --noise-multiplier");
  if (!accountant) {
    auto sigma = dp::AnalyticGaussianSigma(epsilon, delta);
    if (!sigma.ok()) return Fail(cmd, sigma.status().message());
    if (args.has("json")) {
      std::cout << "{\"sigma\": " << JsonNumber(*sigma) << ", \"epsilon\": " << JsonNumber(epsilon)
                << ", \"delta\": " << JsonNumber(delta)
                << ", \"sensitivity\": 1, \"mechanism\": \"analytic-gaussian\"}\n";
    } else {
      std::cout << "sigma: " << FormatNumber(*sigma) << " (analytic Gaussian, L2 sensitivity 1)\n";
    }
    return 0;
  }
  if (!args.has("sampling-rate") || !args.has("steps"))
    return Fail(cmd, "--sampling-rate and --steps go together (or leave both out)");
  double q = 0;
  int64_t steps = 0;
  if (!ParseNumber(args, "sampling-rate", 0, false, 1, true, q, cmd) ||
      !ParseSteps(args, steps, cmd))
    return 1;
  auto z = dp::NoiseMultiplierForEpsilon(epsilon, q, steps, delta, options);
  if (!z.ok()) return Fail(cmd, z.status().message());
  if (args.has("json")) {
    std::cout << "{\"noise_multiplier\": " << JsonNumber(*z)
              << ", \"epsilon\": " << JsonNumber(epsilon) << ", \"delta\": " << JsonNumber(delta)
              << ", \"sampling_rate\": " << JsonNumber(q) << ", \"steps\": " << steps
              << ", \"conversion\": \"" << args.get("conversion", "improved") << "\"}\n";
  } else {
    std::cout << "noise multiplier: " << FormatNumber(*z) << "\n";
  }
  return 0;
}

}  // namespace

int PrivacyCommand(int argc, char** argv) {
  const std::string cmd = "privacy";
  Args args;
  if (!ParseArgs(argc, argv,
                 {"sampling-rate", "noise-multiplier", "steps", "delta", "epsilon", "conversion"},
                 {"help", "verbose", "json"}, cmd, args))
    return 1;
  if (args.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (args.positional.size() != 1)
    return Fail(cmd, "expected one action, 'epsilon' or 'sigma' (see privedge privacy --help)");
  const std::string& action = args.positional[0];
  if (action == "epsilon") return EpsilonCommand(args, cmd + " epsilon");
  if (action == "sigma") return SigmaCommand(args, cmd + " sigma");
  return Fail(cmd, "unknown action '" + action + "': expected 'epsilon' or 'sigma'");
}

}  // namespace privedge::cli
