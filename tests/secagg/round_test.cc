// End-to-end SecAgg / SecAgg+ rounds: exact sums under dropouts at every stage, aborts beyond
// the tolerated dropout, and honest clients refusing a hostile server.
#include <gtest/gtest.h>
#include <sodium.h>

#include <random>

#include "secagg/simulation.h"

namespace privedge::secagg {
namespace {

RoundConfig Config(uint32_t n, uint32_t k, uint32_t t, uint32_t bits, uint32_t d,
                   uint64_t round_id = 1) {
  RoundConfig c;
  c.round_id = round_id;
  c.num_clients = n;
  c.degree = k;
  c.threshold = t;
  c.bits = bits;
  c.length = d;
  c.graph_seed[0] = static_cast<uint8_t>(round_id);
  return c;
}

std::vector<std::vector<uint64_t>> Inputs(const RoundConfig& c, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint64_t>> in(c.num_clients, std::vector<uint64_t>(c.length));
  for (auto& v : in) {
    for (auto& x : v) x = rng() & ModulusMask(c.bits);
  }
  return in;
}

std::vector<uint64_t> ExpectedSum(const RoundConfig& c,
                                  const std::vector<std::vector<uint64_t>>& in,
                                  const std::vector<uint32_t>& who) {
  std::vector<uint64_t> sum(c.length, 0);
  for (uint32_t u : who) {
    for (size_t i = 0; i < c.length; ++i) sum[i] += in[u][i];
  }
  for (auto& v : sum) v &= ModulusMask(c.bits);
  return sum;
}

SimulationReport RunRound(const RoundConfig& c, const std::vector<std::vector<uint64_t>>& in,
                          std::vector<int> drop_at, std::function<void(Message&)> s2c = nullptr,
                          std::function<void(Message&)> c2s = nullptr) {
  SimulationOptions o;
  o.config = c;
  o.input = [&](uint32_t u) { return in[u]; };
  o.drop_at = std::move(drop_at);
  o.server_to_client = std::move(s2c);
  o.client_to_server = std::move(c2s);
  auto r = SimulateRound(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : SimulationReport{};
}

std::vector<uint32_t> Survivors(const std::vector<int>& drop_at) {
  std::vector<uint32_t> out;
  for (uint32_t u = 0; u < drop_at.size(); ++u) {
    if (drop_at[u] == kNeverDrops || drop_at[u] == 3) out.push_back(u);
  }
  return out;
}

// Complete graph, n = 6, t = 3: every pattern of up to 2 clients dropping, each at any of the
// four stages, gives the exact sum of the clients that sent masked inputs.
TEST(SecaggRoundTest, CompleteGraphExactSumForEveryDropoutPatternUpToTwo) {
  const RoundConfig c = Config(6, 5, 3, 32, 17);
  const auto in = Inputs(c, 1);
  int rounds = 0;
  for (uint32_t a = 0; a < 6; ++a) {
    for (uint32_t b = a; b < 6; ++b) {
      for (int sa = 0; sa < 4; ++sa) {
        for (int sb = 0; sb < 4; ++sb) {
          if (a == b && sb > 0) continue;  // one client dropping
          std::vector<int> drop(6, kNeverDrops);
          drop[a] = sa;
          drop[b] = a == b ? sa : sb;
          const SimulationReport r = RunRound(c, in, drop);
          ASSERT_TRUE(r.completed)
              << "drop " << a << "@" << sa << " " << b << "@" << sb << ": " << r.server_abort;
          EXPECT_EQ(r.contributors, Survivors(drop));
          EXPECT_EQ(r.sum, ExpectedSum(c, in, r.contributors));
          ++rounds;
        }
      }
    }
  }
  EXPECT_EQ(rounds, 6 * 4 + 15 * 16);
  // No dropout at all.
  const SimulationReport r = RunRound(c, in, {});
  ASSERT_TRUE(r.completed);
  EXPECT_EQ(r.sum, ExpectedSum(c, in, {0, 1, 2, 3, 4, 5}));
}

// Beyond the tolerated rate (3 of 6 drop, at any stages) the round aborts with a reason.
TEST(SecaggRoundTest, CompleteGraphAbortsBeyondTheToleratedDropout) {
  const RoundConfig c = Config(6, 5, 3, 32, 5);
  const auto in = Inputs(c, 2);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<int> drop(6, kNeverDrops);
    std::vector<uint32_t> ids = {0, 1, 2, 3, 4, 5};
    std::shuffle(ids.begin(), ids.end(), rng);
    for (int i = 0; i < 3; ++i) drop[ids[i]] = static_cast<int>(rng() % 4);
    const SimulationReport r = RunRound(c, in, drop);
    EXPECT_FALSE(r.completed);
    EXPECT_FALSE(r.server_abort.empty());
    const bool says_why = r.server_abort.find("threshold") != std::string::npos;
    EXPECT_TRUE(says_why) << r.server_abort;
  }
}

// SecAgg+: a sparse random Harary graph; random dropouts at random stages that leave every
// client at least t+1 neighbours that never drop give the exact sum.
TEST(SecaggRoundTest, HararyGraphExactSumUnderRandomDropouts) {
  const RoundConfig c = Config(40, 10, 6, 20, 33, 7);
  const auto in = Inputs(c, 4);
  CommunicationGraph graph(c.num_clients, c.degree, c.graph_seed);
  std::mt19937 rng(9);
  int tested = 0;
  for (int trial = 0; tested < 12 && trial < 200; ++trial) {
    std::vector<int> drop(c.num_clients, kNeverDrops);
    for (auto& s : drop) {
      if (rng() % 10 == 0) s = static_cast<int>(rng() % 4);
    }
    bool tolerated = true;
    for (uint32_t u = 0; u < c.num_clients; ++u) {
      uint32_t alive = 0;
      for (uint32_t v : graph.Neighbours(u)) alive += drop[v] == kNeverDrops;
      tolerated = tolerated && alive >= c.threshold + 1;
    }
    if (!tolerated) continue;
    ++tested;
    const SimulationReport r = RunRound(c, in, drop);
    ASSERT_TRUE(r.completed) << r.server_abort;
    EXPECT_EQ(r.contributors, Survivors(drop));
    EXPECT_EQ(r.sum, ExpectedSum(c, in, r.contributors));
  }
  EXPECT_EQ(tested, 12);
}

// SecAgg+ beyond tolerance: all but t-1 neighbours of one client drop after sharing keys, so
// its own self-mask seed cannot be recovered: the round aborts naming it.
TEST(SecaggRoundTest, HararyGraphAbortsWhenAClientLosesItsNeighbours) {
  const RoundConfig c = Config(30, 8, 5, 32, 9, 3);
  const auto in = Inputs(c, 5);
  CommunicationGraph graph(c.num_clients, c.degree, c.graph_seed);
  std::vector<int> drop(c.num_clients, kNeverDrops);
  const auto nb = graph.Neighbours(0);
  for (size_t i = 0; i + c.threshold - 1 < nb.size(); ++i) drop[nb[i]] = 2;
  const SimulationReport r = RunRound(c, in, drop);
  EXPECT_FALSE(r.completed);
  EXPECT_NE(r.server_abort.find("threshold"), std::string::npos) << r.server_abort;
}

TEST(SecaggRoundTest, WideModulusAndWrapAround) {
  for (uint32_t bits : {8u, 40u, 64u}) {
    const RoundConfig c = Config(7, 6, 4, bits, 11);
    const auto in = Inputs(c, bits);
    std::vector<int> drop(7, kNeverDrops);
    drop[2] = 2;
    const SimulationReport r = RunRound(c, in, drop);
    ASSERT_TRUE(r.completed) << r.server_abort;
    EXPECT_EQ(r.sum, ExpectedSum(c, in, r.contributors)) << bits;
  }
}

// A server that asks a client for both the self-mask seed share and the mask-key share of the
// same neighbour is refused.
TEST(SecaggRoundTest, ClientRefusesToRevealBothSharesOfOneDevice) {
  const RoundConfig c = Config(6, 5, 3, 32, 4);
  const auto in = Inputs(c, 6);
  auto ask_both = [](Message& m) {
    if (auto* req = std::get_if<UnmaskRequest>(&m);
        req && req->to == 0 && !req->survivors.empty()) {
      req->dropped.push_back(req->survivors.front());
    }
  };
  const SimulationReport r = RunRound(c, in, {}, ask_both);
  EXPECT_NE(r.client_aborts[0].find("both the self-mask seed share and the mask-key share"),
            std::string::npos)
      << r.client_aborts[0];
  // The other clients answered and the round still completes with everyone's input.
  ASSERT_TRUE(r.completed) << r.server_abort;
  EXPECT_EQ(r.sum, ExpectedSum(c, in, {0, 1, 2, 3, 4, 5}));
}

// Driving a client by hand: a second unmask request is refused (double request).
TEST(SecaggRoundTest, ClientRefusesASecondUnmaskRequest) {
  const RoundConfig c = Config(4, 3, 2, 32, 3);
  InMemoryDeviceRegistry registry;
  auto devices = EnrollSimulatedDevices(4, registry);
  ASSERT_TRUE(devices.ok());
  auto server = SecAggServer::Create(c, &registry);
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<SecAggClient>> clients;
  std::vector<Message> to_clients;
  for (uint32_t u = 0; u < 4; ++u) {
    clients.push_back(std::move(
        SecAggClient::Create(c, u, (*devices)[u].device_id, (*devices)[u].signer, &registry)
            .value()));
    ASSERT_TRUE(clients[u]->SetInput({u, u, u}).ok());
    auto out = (*server)->Handle(clients[u]->Start().value());
    ASSERT_TRUE(out.ok());
    for (auto& m : *out) to_clients.push_back(m);
  }
  UnmaskRequest first_request;
  for (int stage = 0; stage < 3; ++stage) {
    std::vector<Message> next;
    for (const Message& m : to_clients) {
      if (auto* req = std::get_if<UnmaskRequest>(&m); req && req->to == 1) first_request = *req;
      auto replies = clients[Endpoint(m)]->Handle(m);
      ASSERT_TRUE(replies.ok()) << replies.status().ToString();
      for (const Message& reply : *replies) {
        auto out = (*server)->Handle(reply);
        ASSERT_TRUE(out.ok()) << out.status().ToString();
        for (auto& s : *out) next.push_back(s);
      }
    }
    to_clients = std::move(next);
  }
  ASSERT_EQ((*server)->state(), SecAggServer::State::kDone);
  EXPECT_EQ((*server)->sum(), (std::vector<uint64_t>{6, 6, 6}));
  auto again = clients[1]->Handle(first_request);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("double request"), std::string::npos);
}

// A tampered share ciphertext is detected by its recipient, which aborts with the reason; the
// round goes on without that client.
TEST(SecaggRoundTest, TamperedShareCiphertextIsDetected) {
  const RoundConfig c = Config(6, 5, 3, 32, 4);
  const auto in = Inputs(c, 7);
  auto tamper = [](Message& m) {
    if (auto* f = std::get_if<ForwardedShares>(&m); f && f->to == 2 && !f->shares.empty()) {
      f->shares[0].ciphertext[40] ^= 1;
    }
  };
  const SimulationReport r = RunRound(c, in, {}, tamper);
  EXPECT_NE(r.client_aborts[2].find("failed authentication"), std::string::npos)
      << r.client_aborts[2];
  ASSERT_TRUE(r.completed) << r.server_abort;
  EXPECT_EQ(r.contributors, (std::vector<uint32_t>{0, 1, 3, 4, 5}));
  EXPECT_EQ(r.sum, ExpectedSum(c, in, r.contributors));
}

// A server that substitutes a neighbour's advertised key (to learn its shares) is caught by the
// Ed25519 signature check; a client forging its own advertisement is rejected by the server.
TEST(SecaggRoundTest, ForgedKeySignaturesAreRejected) {
  const RoundConfig c = Config(6, 5, 3, 32, 4);
  const auto in = Inputs(c, 8);
  auto substitute = [](Message& m) {
    if (auto* nk = std::get_if<NeighbourKeys>(&m); nk && nk->to == 4) {
      nk->neighbours[0].mask_key[0] ^= 0x55;
    }
  };
  const SimulationReport r = RunRound(c, in, {}, substitute);
  EXPECT_NE(r.client_aborts[4].find("do not verify against the enrolled key"), std::string::npos)
      << r.client_aborts[4];

  auto forge = [](Message& m) {
    if (auto* ad = std::get_if<AdvertiseKeys>(&m); ad && ad->from == 1) ad->signature[3] ^= 1;
  };
  const SimulationReport forged = RunRound(c, in, {}, nullptr, forge);
  ASSERT_TRUE(forged.completed) << forged.server_abort;
  EXPECT_EQ(forged.contributors, (std::vector<uint32_t>{0, 2, 3, 4, 5}));
  EXPECT_EQ(forged.sum, ExpectedSum(c, in, forged.contributors));
}

// Hostile ids in flight (out of range, other clients, repeated) in both directions never crash
// either side, and a round that still completes has the exact sum of its contributors.
TEST(SecaggRoundTest, HostileIdsNeverCrashAndCompletedRoundsStayExact) {
  const RoundConfig c = Config(12, 6, 4, 32, 5, 9);
  const auto in = Inputs(c, 10);
  std::mt19937 rng(11);
  auto pick = [&]() -> uint32_t {
    switch (rng() % 3) {
      case 0:
        return rng() % 12;
      case 1:
        return 12 + rng() % 3;
      default:
        return 0xffffffffu;
    }
  };
  auto mutate = [&](Message& m) {
    if (rng() % 30 != 0) return;
    std::visit(
        [&](auto& msg) {
          using T = std::decay_t<decltype(msg)>;
          if constexpr (std::is_same_v<T, NeighbourKeys>) {
            if (!msg.neighbours.empty())
              msg.neighbours[rng() % msg.neighbours.size()].from = pick();
          } else if constexpr (std::is_same_v<T, ShareKeys> || std::is_same_v<T, ForwardedShares>) {
            if (!msg.shares.empty()) msg.shares[rng() % msg.shares.size()].peer = pick();
          } else if constexpr (std::is_same_v<T, UnmaskRequest>) {
            msg.survivors.push_back(pick());
          } else if constexpr (std::is_same_v<T, UnmaskResponse>) {
            if (!msg.shares.empty()) msg.shares[rng() % msg.shares.size()].owner = pick();
          } else if constexpr (std::is_same_v<T, MaskedInput>) {
            msg.values.pop_back();
          }
        },
        m);
  };
  int completed = 0;
  for (int trial = 0; trial < 15; ++trial) {
    const SimulationReport r = RunRound(c, in, {}, mutate, mutate);
    if (!r.completed) {
      EXPECT_FALSE(r.server_abort.empty());
      continue;
    }
    ++completed;
    EXPECT_EQ(r.sum, ExpectedSum(c, in, r.contributors));
  }
  EXPECT_GT(completed, 0);
}

TEST(SecaggRoundTest, InvalidConfigurationsAreRefused) {
  EXPECT_FALSE(ValidateConfig(Config(6, 5, 2, 32, 4)).ok());   // t <= k/2
  EXPECT_FALSE(ValidateConfig(Config(20, 7, 5, 32, 4)).ok());  // odd sparse degree
  EXPECT_FALSE(ValidateConfig(Config(6, 5, 3, 65, 4)).ok());
  EXPECT_FALSE(ValidateConfig(Config(6, 5, 3, 32, 0)).ok());
  EXPECT_TRUE(ValidateConfig(Config(20, 8, 5, 32, 4)).ok());
}

}  // namespace
}  // namespace privedge::secagg
