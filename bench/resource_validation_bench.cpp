// liblatchkey-resource: access-token validations per second, cold (signature checked every time)
// and cached, beside the raw ES256 verify rate of this machine measured in the same run.
// The goal (issue 5): cold validation at 90 % or more of the raw verify rate.
//
//   resource_validation_bench                       all benchmarks, then the summary
//   resource_validation_bench --benchmark_min_time=2  steadier figures
#include <benchmark/benchmark.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <boost/json.hpp>
#include <iostream>
#include <map>
#include <memory>

#include "jose/jws.h"
#include "resource/validator.h"
#include "util/base64url.h"

namespace lr = latchkey::resource;
namespace jose = latchkey::jose;

namespace {

constexpr const char* kIssuer = "https://idp.example";
constexpr const char* kAudience = "https://api.example";

struct World {
  jose::SigningKeyPair key = jose::SigningKeyPair::generate(jose::Algorithm::ES256);
  std::string jwks;
  std::vector<std::string> tokens;  // distinct tokens (different jti)
  std::string signing_input, der_signature;
  jose::PublicJwk public_key;

  World() : public_key(*jose::PublicJwk::from_json(key.public_jwk("k1"))) {
    jwks = boost::json::serialize(boost::json::object{{"keys", boost::json::array{key.public_jwk("k1")}}});
    auto now = latchkey::util::SystemClock().now();
    for (int i = 0; i < 64; ++i) {
      // A token shaped like latchkey-server's (RFC 9068 claims).
      boost::json::object claims{{"iss", kIssuer}, {"sub", "Zk3J0cL2x9QmV1aP4s8dYw"}, {"aud", kAudience},
                                 {"exp", now + 3600}, {"iat", now}, {"nbf", now},
                                 {"jti", "jti-" + std::to_string(i) + "-q8Xv2LmN0pR7sT1u"},
                                 {"client_id", "latchkey-cli"}, {"scope", "openid profile email offline_access"},
                                 {"auth_time", now}};
      tokens.push_back(jose::sign_jwt(key, "k1", "at+jwt", claims));
    }
    // The raw verify input: the first token's signing input and its signature in DER.
    const std::string& t = tokens[0];
    auto last_dot = t.rfind('.');
    signing_input = t.substr(0, last_dot);
    std::string raw = *latchkey::util::base64url_decode(t.substr(last_dot + 1));
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int n = i2d_ECDSA_SIG(sig, &der);
    der_signature.assign(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
  }

  std::unique_ptr<lr::Validator> validator(std::size_t cache_slots) const {
    lr::ValidatorOptions o;
    o.issuer = kIssuer;
    o.audience = kAudience;
    o.token_cache_slots = cache_slots;
    auto v = lr::Validator::from_jwks(o, jwks);
    if (!v) throw std::runtime_error(v.error());
    return std::move(*v);
  }
};

const World& world() {
  static World w;
  return w;
}

// What any ES256 verifier must do per token: a digest-verify context on the key, SHA-256 over the
// signing input, the ECDSA verification. OpenSSL EVP directly, DER signature prepared beforehand.
void raw_es256_verify(benchmark::State& state) {
  const World& w = world();
  EVP_PKEY* key = w.public_key.key.get();
  for (auto _ : state) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
             EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(w.der_signature.data()), w.der_signature.size(),
                              reinterpret_cast<const unsigned char*>(w.signing_input.data()), w.signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(raw_es256_verify);

// Cold, cache off: every call parses the header, checks the signature and every claim.
void validate_cold(benchmark::State& state) {
  auto v = world().validator(0);
  std::string header = "Bearer " + world().tokens[0];
  for (auto _ : state) {
    auto r = v->validate(header);
    if (!r) state.SkipWithError(r.error().description.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(validate_cold);

// Cold with the cache on: one slot, tokens taking turns, so every call misses and also pays for
// hashing the token and inserting the entry.
void validate_cold_cache_misses(benchmark::State& state) {
  auto v = world().validator(1);
  std::vector<std::string> headers;
  for (const auto& t : world().tokens) headers.push_back("Bearer " + t);
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = v->validate(headers[i++ % headers.size()]);
    if (!r) state.SkipWithError(r.error().description.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(validate_cold_cache_misses);

// Cached: the same token again (SHA-256 of the token, one slot load, the per-request checks).
void validate_cached(benchmark::State& state) {
  auto v = world().validator(4096);
  std::string header = "Bearer " + world().tokens[0];
  (void)v->validate(header);
  for (auto _ : state) {
    auto r = v->validate(header, {.scopes = {"profile"}});
    if (!r) state.SkipWithError(r.error().description.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(validate_cached);
BENCHMARK(validate_cached)->Threads(2)->UseRealTime();

// Keeps each benchmark's items/s for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates[run.benchmark_name()] = it->second.value;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  auto rate = [&](const std::string& name) {
    auto it = reporter.rates.find(name);
    return it == reporter.rates.end() ? 0.0 : it->second;
  };
  double raw = rate("raw_es256_verify");
  std::cout << "\nSummary (per second, one thread unless noted):\n";
  auto line = [&](const char* label, double r) {
    std::cout << "  " << label << ": " << static_cast<long long>(r);
    if (raw > 0 && r > 0) std::cout << "  (" << static_cast<int>(100.0 * r / raw + 0.5) << " % of raw ES256 verify)";
    std::cout << "\n";
  };
  line("raw ES256 verify (OpenSSL EVP)      ", raw);
  line("cold validation, cache off          ", rate("validate_cold"));
  line("cold validation, cache on (misses)  ", rate("validate_cold_cache_misses"));
  line("cached validation                   ", rate("validate_cached"));
  line("cached validation, 2 threads (total)", rate("validate_cached/real_time/threads:2"));
  if (raw > 0 && rate("validate_cold") > 0)
    std::cout << "Goal: cold >= 90 % of raw: " << (rate("validate_cold") >= 0.9 * raw ? "met" : "NOT met") << "\n";
  return 0;
}
