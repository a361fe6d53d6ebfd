// Differential privacy: how much an update may reveal, the noise that bounds it, and the
// accountant that reports the (epsilon, delta) spent.
//
// A randomized computation M is (epsilon, delta)-differentially private when, for any two
// datasets differing in one person's data and any set of outcomes S,
//   P[M(D) in S] <= exp(epsilon) * P[M(D') in S] + delta.
// Small epsilon (about 1) is a strong guarantee, 8 or more a weak one; delta is the chance the
// bound fails outright and should be well below 1 / (number of people), e.g. 1e-5.
//
// This header offers three groups of calls, all in namespace privedge::privacy:
//
//  1. Accounting. Renyi differential privacy (RDP) of the sampled Gaussian mechanism (DP-SGD,
//     DP-FedAvg: each step samples each record or device with probability q, clips each
//     contribution to L2 norm C and adds N(0, (z*C)^2) noise to the sum), composition over
//     steps, conversion to (epsilon, delta), and the inverse (the noise multiplier z for a
//     target epsilon). Plus analytic Gaussian calibration for a single release.
//  2. Mechanisms. L2 clipping (flat and per layer), continuous Gaussian noise, and the exact
//     discrete Gaussian sampler for integer (quantized) updates.
//  3. Randomness. SecureRandom: a cryptographically secure bit source built on libsodium.
//
// Errors: every call that can be given a bad parameter returns Status/Result with an
// InvalidArgument message naming the parameter, its allowed range and the value received.
// Nothing throws and nothing aborts on bad input.
//
// Thread-safety: the free functions are pure (apart from the SecureRandom they are handed) and
// may run concurrently. RdpAccountant and SecureRandom are not internally synchronized: use one
// per thread or lock around them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "privedge/status.h"

namespace privedge::privacy {

// ---------------------------------------------------------------------------------------------
// Accounting
// ---------------------------------------------------------------------------------------------

// The Renyi orders (alpha) the accountant evaluates by default: 1.1, 1.2, ..., 10.9, then every
// integer 11..63, then 128, 256, 512, 1024 (156 orders). The epsilon reported is the best
// (smallest) over these; a denser or wider grid can only lower it slightly.
const std::vector<double>& DefaultRdpOrders();

// How RDP at order alpha turns into (epsilon, delta)-DP. For the same RDP curve, kImproved
// never gives a larger epsilon than kClassic, and usually a smaller one (by about
// log(alpha)/(alpha-1) at the optimal order).
enum class RdpConversion {
  // Balle, Barthe, Gaboardi, Hsu, Sato 2020 / Canonne, Kamath, Steinke 2020 (Prop. 12):
  //   epsilon = rdp + log((alpha - 1) / alpha) - (log(delta) + log(alpha)) / (alpha - 1).
  // What Opacus and current TensorFlow Privacy / dp_accounting report. The default.
  kImproved,
  // Mironov 2017, Prop. 3: epsilon = rdp - log(delta) / (alpha - 1). What TensorFlow Privacy's
  // rdp_accountant.get_privacy_spent reported before it adopted the improved conversion (its
  // older tests expect 0.941870567 for the TF example below, which this reproduces); offered
  // to reproduce such published figures, never needed for new ones.
  kClassic,
};

// Options shared by the accounting calls. The defaults are right for almost every use.
struct AccountingOptions {
  RdpConversion conversion = RdpConversion::kImproved;
  // Renyi orders to evaluate; each must be finite and > 1. Empty means DefaultRdpOrders().
  std::vector<double> orders;
};

// An (epsilon, delta) guarantee and the Renyi order that gave it.
struct EpsilonResult {
  double epsilon = 0;  // >= 0; +infinity when no order gives a finite bound
  double order = 0;    // the alpha at which the minimum was reached
};

// RDP at order `order` of ONE step of the sampled Gaussian mechanism with sampling rate
// `sampling_rate` (q, in [0, 1]) and noise multiplier `noise_multiplier` (z > 0: the noise
// standard deviation divided by the L2 sensitivity).
//
// Exact, following Mironov, Talwar and Zhang 2019 ("Renyi Differential Privacy of the Sampled
// Gaussian Mechanism", Sec. 3.3) as implemented by TensorFlow Privacy and Opacus: for integer
// alpha the finite binomial sum, evaluated in log space; for fractional alpha the two
// convergent series split at z0 = z^2 log(1/q - 1) + 1/2, summed until their terms fall below
// e^-30. q = 0 gives 0; q = 1 gives the plain Gaussian alpha / (2 z^2). If a fractional series
// does not converge within its term budget (only for q close to 1 with small z) the result is
// +infinity, which is safe: that order then never sets epsilon.
//
// Errors: InvalidArgument for q outside [0, 1], z <= 0 or non-finite, order <= 1 or
// non-finite.
Result<double> SampledGaussianRdp(double sampling_rate, double noise_multiplier, double order);

// RDP of `steps` compositions of that step, one value per order in `orders` (empty: the
// defaults). RDP composes additively, so this is steps * SampledGaussianRdp(...) per order.
// Errors: as SampledGaussianRdp; steps must be >= 0.
Result<std::vector<double>> SampledGaussianRdpCurve(double sampling_rate, double noise_multiplier,
                                                    int64_t steps,
                                                    std::span<const double> orders = {});

// The smallest epsilon over the orders for which the RDP curve `rdp` (rdp[i] at orders[i])
// gives (epsilon, delta)-DP, with the order that reached it. delta must be in (0, 1); the two
// spans must have the same non-zero length; rdp values must be >= 0 (+infinity allowed).
// Under either conversion an order whose RDP is so small that delta^2 > 1 - e^-rdp gives
// epsilon 0 (KL <= RDP, and total variation <= sqrt(1 - e^-KL)), as TF Privacy does; and
// epsilon is clamped at 0 from below.
Result<EpsilonResult> RdpToEpsilon(std::span<const double> orders, std::span<const double> rdp,
                                   double delta,
                                   RdpConversion conversion = RdpConversion::kImproved);

// (epsilon, delta) after `steps` steps of the sampled Gaussian mechanism: the composition of
// SampledGaussianRdpCurve and RdpToEpsilon. Example (Opacus's test): q = 0.04, z = 1.5,
// steps = 2250, delta = 1e-5 gives epsilon 7.3291 at order 3.9 with the improved conversion
// (8.0738 at order 4.1 with the classic one); TF Privacy's q = 150/60000, z = 1.3,
// steps = 6000, delta = 1e-5 gives 0.72422 at order 19 (classic: 0.94187).
Result<EpsilonResult> ComputeEpsilon(double sampling_rate, double noise_multiplier, int64_t steps,
                                     double delta, const AccountingOptions& options = {});

// The inverse: the smallest noise multiplier z (to relative precision 1e-9) for which `steps`
// steps at sampling rate q stay within (target_epsilon, delta). Found by bisection, since
// epsilon falls as z grows. The returned z always satisfies the target (it is the upper end of
// the final bracket). Errors: InvalidArgument for target_epsilon <= 0, q outside (0, 1],
// steps < 1, delta outside (0, 1); OutOfRange if even z = 1e6 does not reach the target.
Result<double> NoiseMultiplierForEpsilon(double target_epsilon, double sampling_rate, int64_t steps,
                                         double delta, const AccountingOptions& options = {});

// Tracks the privacy spent by a sequence of sampled Gaussian steps whose q and z may change
// (e.g. federated rounds with varying cohort sizes). Holds one RDP value per order; copying it
// is cheap, so "what would epsilon be after N more rounds?" is answered on a copy.
class RdpAccountant {
 public:
  // Uses options.orders (or the defaults) and options.conversion for every later call.
  // Precondition: every order finite and > 1 (checked: a bad order makes AddSteps fail).
  explicit RdpAccountant(AccountingOptions options = {});

  // Records `steps` steps at sampling rate q and noise multiplier z. On error nothing is
  // recorded. Errors: as SampledGaussianRdpCurve.
  Status AddSteps(double sampling_rate, double noise_multiplier, int64_t steps);

  // (epsilon, delta) spent so far; epsilon 0 before any step. Errors: delta outside (0, 1).
  Result<EpsilonResult> Epsilon(double delta) const;

  // The orders evaluated and the RDP accumulated at each of them.
  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }
  // Total number of steps recorded.
  int64_t steps() const { return steps_; }

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  RdpConversion conversion_;
  int64_t steps_ = 0;
};

// Analytic Gaussian mechanism (Balle and Wang 2018, Theorem 8): the smallest standard
// deviation sigma such that adding N(0, sigma^2) to a query of L2 sensitivity `sensitivity` is
// (epsilon, delta)-DP, from the exact condition
//   Phi(s/(2 sigma) - epsilon sigma/s) - e^epsilon Phi(-s/(2 sigma) - epsilon sigma/s) <= delta
// (Phi: the standard normal CDF, s: the sensitivity), solved by bisection to relative
// precision 1e-12. Tighter than the classic sqrt(2 log(1.25/delta)) / epsilon and valid for
// every epsilon > 0. Example: epsilon 1, delta 1e-5, sensitivity 1 gives sigma = 3.7306.
// Errors: InvalidArgument for epsilon <= 0 or non-finite, delta outside (0, 1), sensitivity
// <= 0 or non-finite.
Result<double> AnalyticGaussianSigma(double epsilon, double delta, double sensitivity = 1.0);

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

// A cryptographically secure stream of uniform bits: the ChaCha20 keystream (libsodium's
// crypto_stream_chacha20) under a 256-bit key, either drawn from the operating system
// (randombytes_buf) or given as a seed for reproducible tests and simulations. A seeded
// generator must never be used to protect real data: anyone with the seed can remove the noise.
//
// Not copyable or movable, so a stream can never be duplicated by accident; hold it by
// reference or unique_ptr. Not thread-safe. The key and buffered bits are wiped on destruction.
class SecureRandom {
 public:
  static constexpr size_t kSeedBytes = 32;

  // Keyed from the operating system's entropy source. (libsodium aborts the process if the
  // OS has no usable entropy source at all; that cannot be caused by input.)
  SecureRandom();
  // Deterministic: the same seed gives the same stream on every platform.
  explicit SecureRandom(const std::array<uint8_t, kSeedBytes>& seed);
  ~SecureRandom();
  SecureRandom(const SecureRandom&) = delete;
  SecureRandom& operator=(const SecureRandom&) = delete;

  // Fills `out` with uniform bytes.
  void Fill(std::span<uint8_t> out);
  // 64 uniform bits.
  uint64_t NextUint64();
  // Uniform integer in [0, bound), without modulo bias (rejection). bound 0 returns 0.
  uint64_t UniformBelow(uint64_t bound);
  // Uniform double in [0, 1): a uniform 53-bit integer times 2^-53 (every value a multiple of
  // 2^-53, each equally likely).
  double UniformDouble();

 private:
  void Refill();

  static constexpr size_t kBufferBytes = 1024;

  std::array<uint8_t, kSeedBytes> key_;
  std::array<uint8_t, kBufferBytes> buffer_;
  size_t used_ = kBufferBytes;  // bytes of buffer_ already handed out
  uint64_t nonce_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Mechanisms
// ---------------------------------------------------------------------------------------------

// Scales `values` in place so that their L2 norm is at most `max_norm`, and returns the scale
// applied: min(1, max_norm / norm), 1 when the vector is already inside the ball (including
// the zero vector). The norm is accumulated in double precision. Errors: InvalidArgument for
// max_norm <= 0 or non-finite, or a non-finite element (the vector is then left unchanged).
Result<double> ClipL2(std::span<float> values, double max_norm);

// Per-layer clipping: `layer_ends` splits `values` into consecutive layers, layer k being
// [layer_ends[k-1], layer_ends[k]) (layer 0 starts at 0); it must be strictly increasing and
// end at values.size(). Each layer is clipped to its own bound: max_norms[k], or max_norms[0]
// for every layer when max_norms has one element. The whole update then has L2 norm at most
// sqrt(sum of squared bounds): use C / sqrt(layers) per layer for a total of C. Returns the
// scale applied to each layer. Errors: InvalidArgument for bad boundaries, a bounds count that
// is neither 1 nor the number of layers, and as ClipL2 (values unchanged on error).
Result<std::vector<double>> ClipL2PerLayer(std::span<float> values,
                                           std::span<const size_t> layer_ends,
                                           std::span<const double> max_norms);

// One N(0, stddev^2) sample: Box-Muller on two 53-bit uniforms from `rng`. The tails are cut at
// about 8.57 stddev (the largest value 53-bit uniforms can reach), a change of probability of
// about 1e-17. stddev must be >= 0 and finite (not checked here; see AddGaussianNoise).
//
// Floating-point Gaussian noise is what DP-SGD and DP-FedAvg use in practice, but its rounding
// can leak a little (Mironov 2012; Jin et al. 2021); for noise that must be exact, quantize
// and use the discrete Gaussian below.
double SampleGaussian(SecureRandom& rng, double stddev);

// Adds independent N(0, stddev^2) noise to every element. Errors: InvalidArgument for stddev
// < 0 or non-finite (values unchanged).
Status AddGaussianNoise(std::span<float> values, double stddev, SecureRandom& rng);

// A non-negative rational number numerator / denominator, the parameter type of the exact
// samplers below. denominator must be > 0.
struct Rational {
  uint64_t numerator = 0;
  uint64_t denominator = 1;
};

// The closest rational with a power-of-two denominator to a finite x >= 0 whose numerator and
// denominator both fit in 56 bits (so it is a valid discrete Gaussian variance), reduced.
// Error at most 2^-57 for x < 1, relative error at most 2^-56 above. Errors: InvalidArgument for
// negative, non-finite, or too-large (> 2^56) x.
Result<Rational> RationalFromDouble(double x);

// The exact samplers of Canonne, Kamath and Steinke 2020 ("The Discrete Gaussian for
// Differential Privacy"), in integer arithmetic only: no floating point touches the output
// distribution, which is exact given uniform bits.

// Bernoulli(exp(-gamma)) for gamma >= 0 (their Algorithm 1). Errors: zero denominator.
Result<bool> SampleBernoulliExp(SecureRandom& rng, Rational gamma);

// The discrete Laplace distribution with scale t > 0: P[x] proportional to exp(-|x| / t) over
// the integers (their Algorithm 2). Magnitudes beyond int64 (probability far below e^-100 for
// any allowed scale) are resampled. Errors: InvalidArgument for a zero numerator or
// denominator, or one above 2^56.
Result<int64_t> SampleDiscreteLaplace(SecureRandom& rng, Rational scale);

// The discrete Gaussian N_Z(0, sigma^2): P[x] proportional to exp(-x^2 / (2 sigma^2)) over the
// integers (their Algorithm 3: discrete Laplace proposals with t = floor(sigma) + 1, accepted
// with probability exp(-(|x| - sigma^2/t)^2 / (2 sigma^2))). Its variance is slightly below
// sigma^2 (and above sigma^2 - 1e-7 for sigma >= 1). `sigma_squared` is the variance parameter
// as a rational whose numerator and denominator are at most 2^56 (RationalFromDouble gives one);
// numerator 0 always returns 0. Candidates whose acceptance probability is below e^-2000 are
// rejected without evaluating it, a change of the distribution far below any other error.
// Errors: InvalidArgument for a zero denominator or a numerator/denominator above 2^56.
Result<int64_t> SampleDiscreteGaussian(SecureRandom& rng, Rational sigma_squared);

// Adds independent discrete Gaussian noise N_Z(0, sigma_squared) to every element (e.g. a
// quantized update before secure aggregation; the sum of n such shares is close to N_Z(0,
// n sigma^2) but not exactly discrete Gaussian, see Kairouz, Liu, Steinke 2021). Additions
// saturate at the int64 limits. Errors: as SampleDiscreteGaussian (values unchanged).
Status AddDiscreteGaussianNoise(std::span<int64_t> values, Rational sigma_squared,
                                SecureRandom& rng);

// ---------------------------------------------------------------------------------------------
// Quantization for distributed DP (noise added on the device, summed under secure aggregation)
// ---------------------------------------------------------------------------------------------

// The L2 bound that conditional randomized rounding guarantees (Kairouz, Liu, Steinke 2021,
// "The Distributed Discrete Gaussian Mechanism", Sec. 4): a vector of L2 norm at most
// `scaled_norm` in `dimension` coordinates, rounded coordinate-wise to a neighbouring integer,
// is accepted only when its norm is at most
//   sqrt(min(c^2 + d/4 + sqrt(2 log(1/beta)) (c + sqrt(d)/2), (c + sqrt(d))^2)),  c = scaled_norm,
// which a single rounding meets with probability at least 1 - beta. This bound is the L2
// sensitivity of the rounded update, the one the discrete Gaussian noise is calibrated to.
// Errors: InvalidArgument for a negative or non-finite scaled_norm, dimension 0, beta outside
// (0, 1).
Result<double> ConditionalRoundingBound(double scaled_norm, size_t dimension, double beta);

// Stochastic rounding of scale * values to integers: each coordinate x becomes floor(x) + 1
// with probability x - floor(x), else floor(x), so the result is unbiased. The whole vector is
// rounded again until its L2 norm is at most `norm_bound` (conditional rounding; give
// ConditionalRoundingBound of the scaled clip norm). Errors: InvalidArgument for a scale <= 0, a
// non-finite element or a scaled element beyond 2^52; ResourceExhausted if 1000 roundings all
// exceeded the bound (the input was not clipped to it: with a valid bound the chance is below
// beta^1000).
Result<std::vector<int64_t>> QuantizeStochastic(std::span<const float> values, double scale,
                                                double norm_bound, SecureRandom& rng);

// ---------------------------------------------------------------------------------------------
// Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy 2021, "Differentially Private Learning
// with Adaptive Clipping")
// ---------------------------------------------------------------------------------------------

// Each round the server also releases the noised count of updates that were not clipped,
//   b = (sum_i [||delta_i|| <= C] + N(0, count_stddev^2)) / expected_clients,
// and moves the clip norm geometrically toward the target quantile gamma of the update norms:
//   C <- C * exp(-learning_rate * (b - gamma)).
// The count query has sensitivity 1/2 once centred (b_i - 1/2), so it is a Gaussian mechanism
// with noise multiplier 2 * count_stddev. For a total noise multiplier z for the round, the
// update itself gets the smaller
//   z_update = (z^-2 - (2 count_stddev)^-2)^(-1/2),
// and the pair (update, count) is then exactly as private as one Gaussian release with
// multiplier z: account with z. Errors: InvalidArgument unless z > 0, count_stddev > 0 and
// 2 * count_stddev > z (the count alone would spend more than the whole budget); finite values.
Result<double> AdaptiveClipUpdateNoiseMultiplier(double total_noise_multiplier,
                                                 double count_stddev);

// The next clip norm from the current one and the noised fraction b above. Pure arithmetic;
// the caller guarantees clip > 0 and finite arguments.
double NextAdaptiveClipNorm(double clip, double noised_unclipped_fraction, double target_quantile,
                            double learning_rate);

}  // namespace privedge::privacy
