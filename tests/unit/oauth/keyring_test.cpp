#include "oauth/keyring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <utility>

#include "jose/jws.h"
#include "jose/seal.h"

namespace latchkey::oauth {
namespace {

// The smallest KeyStore that honours the contract in store.h; independent of store/memory.
class FakeKeyStore : public store::KeyStore {
 public:
  std::vector<store::SigningKey> list_keys() override {
    std::vector<store::SigningKey> keys;
    {
      std::lock_guard lock(mutex_);
      keys = keys_;
    }
    std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.created_at > b.created_at; });
    if (after_list) std::exchange(after_list, nullptr)();
    return keys;
  }
  bool insert_key_if_none_active(const store::SigningKey& k) override {
    std::lock_guard lock(mutex_);
    if (std::any_of(keys_.begin(), keys_.end(), [](const auto& key) { return key.retired_at == 0; })) return false;
    keys_.push_back(k);
    return true;
  }
  std::string put_secret_if_absent(const std::string& name, const std::string& value) override {
    std::lock_guard lock(mutex_);
    return secrets_.try_emplace(name, value).first->second;
  }
  void rotate_key(const store::SigningKey& next, store::Timestamp now) override {
    std::lock_guard lock(mutex_);
    if (std::any_of(keys_.begin(), keys_.end(), [&](const auto& key) { return key.kid == next.kid; })) {
      throw store::StoreError("duplicate kid");
    }
    for (auto& key : keys_) {
      if (key.retired_at == 0) key.retired_at = now;
    }
    keys_.push_back(next);
    keys_.back().retired_at = 0;
  }
  bool delete_key(const std::string& kid) override {
    std::lock_guard lock(mutex_);
    return std::erase_if(keys_, [&](const auto& key) { return key.kid == kid; }) > 0;
  }

  void add(const store::SigningKey& k) {
    std::lock_guard lock(mutex_);
    keys_.push_back(k);
  }
  std::vector<store::SigningKey>& raw() { return keys_; }

  std::function<void()> after_list;  // runs once; lets a test act as a second process

 private:
  std::mutex mutex_;
  std::vector<store::SigningKey> keys_;
  std::map<std::string, std::string> secrets_;
};

const std::string kKek(32, '\x42');
const std::string kOtherKek(32, '\x43');

// A key row as another instance of the server would have written it.
store::SigningKey sealed_row(jose::Algorithm alg, store::Timestamp created_at, store::Timestamp retired_at,
                             const std::string& kek = kKek) {
  util::SystemRandom random;
  auto key = jose::SigningKeyPair::generate(alg);
  std::string kid = key.thumbprint();
  return {kid, std::string(jose::to_string(alg)), jose::seal(key.private_pem(), kek, random, kid),
          boost::json::serialize(key.public_jwk(kid)), created_at, retired_at};
}

class KeyRingTest : public ::testing::Test {
 protected:
  FakeKeyStore store;
  util::SystemRandom random;
  util::FakeClock clock;
};

TEST_F(KeyRingTest, KekMustBe32Bytes) {
  EXPECT_THROW(KeyRing(store, std::string(31, 'k')), std::invalid_argument);
  EXPECT_THROW(KeyRing(store, std::string(33, 'k')), std::invalid_argument);
  EXPECT_THROW(KeyRing(store, ""), std::invalid_argument);
  EXPECT_NO_THROW(KeyRing(store, kKek));
}

TEST_F(KeyRingTest, EnsureCreatesOneSealedKeyOnce) {
  KeyRing ring(store, kKek);
  EXPECT_TRUE(ring.ensure_signing_key(jose::Algorithm::ES256, random, clock));
  EXPECT_FALSE(ring.ensure_signing_key(jose::Algorithm::ES256, random, clock));
  KeyRing second_process(store, kKek);
  EXPECT_FALSE(second_process.ensure_signing_key(jose::Algorithm::RS256, random, clock));

  auto keys = store.list_keys();
  ASSERT_EQ(keys.size(), 1u);
  const auto& row = keys[0];
  EXPECT_EQ(row.alg, "ES256");
  EXPECT_EQ(row.created_at, clock.now());
  EXPECT_EQ(row.retired_at, 0);
  EXPECT_TRUE(row.private_key_sealed.starts_with("v1."));
  EXPECT_EQ(row.private_key_sealed.find("PRIVATE"), std::string::npos);
  auto jwk = boost::json::parse(row.public_jwk).as_object();
  EXPECT_EQ(std::string_view(jwk.at("kid").as_string()), row.kid);
  EXPECT_FALSE(jwk.contains("d"));
  EXPECT_EQ(jose::jwk_thumbprint(jwk), row.kid);  // kid is the RFC 7638 thumbprint
  EXPECT_TRUE(jose::unseal(row.private_key_sealed, kKek, row.kid));
}

TEST_F(KeyRingTest, EnsureLosesTheRaceGracefully) {
  // Another process inserts its key between our check and our insert: ours is not stored.
  auto theirs = sealed_row(jose::Algorithm::ES256, 5, 0);
  store.after_list = [&] { store.add(theirs); };
  KeyRing ring(store, kKek);
  EXPECT_FALSE(ring.ensure_signing_key(jose::Algorithm::ES256, random, clock));
  ASSERT_EQ(store.list_keys().size(), 1u);
  EXPECT_EQ(store.list_keys()[0].kid, theirs.kid);
}

TEST_F(KeyRingTest, SnapshotIsEmptyBeforeReload) {
  KeyRing ring(store, kKek);
  EXPECT_EQ(ring.snapshot(), nullptr);
}

TEST_F(KeyRingTest, ReloadGivesAKeyThatSignsAndAJwksThatVerifies) {
  for (auto alg : {jose::Algorithm::ES256, jose::Algorithm::RS256}) {
    FakeKeyStore fresh;
    KeyRing ring(fresh, kKek);
    ASSERT_TRUE(ring.ensure_signing_key(alg, random, clock));
    ring.reload();
    auto snapshot = ring.snapshot();
    ASSERT_NE(snapshot, nullptr);
    ASSERT_NE(snapshot->active, nullptr);
    EXPECT_EQ(snapshot->active->kid, fresh.list_keys()[0].kid);
    EXPECT_EQ(snapshot->active->alg, alg);

    boost::json::object claims{{"sub", "alice"}};
    std::string token = jose::sign_jwt(snapshot->active->key, snapshot->active->kid, "at+jwt", claims);
    std::array<jose::Algorithm, 1> allowed{alg};
    auto from_jwks = jose::parse_jwks(snapshot->jwks_json);
    ASSERT_TRUE(from_jwks) << from_jwks.error();
    ASSERT_EQ(from_jwks->size(), 1u);
    EXPECT_TRUE(jose::verify_jwt(token, *from_jwks, allowed));
    EXPECT_TRUE(jose::verify_jwt(token, snapshot->public_keys, allowed));
    EXPECT_EQ(snapshot->jwks_json.find("\"d\""), std::string::npos);
  }
}

TEST_F(KeyRingTest, ActiveKeyIsTheNewestUnretiredOneAndAllArePublished) {
  auto retired = sealed_row(jose::Algorithm::ES256, 100, 150);
  auto older_active = sealed_row(jose::Algorithm::RS256, 120, 0);
  auto newest_active = sealed_row(jose::Algorithm::ES256, 200, 0);
  auto newest_retired = sealed_row(jose::Algorithm::ES256, 300, 310);
  for (const auto& row : {retired, older_active, newest_active, newest_retired}) store.add(row);

  KeyRing ring(store, kKek);
  ring.reload();
  auto snapshot = ring.snapshot();
  EXPECT_EQ(snapshot->active->kid, newest_active.kid);
  EXPECT_EQ(snapshot->public_keys.size(), 4u);
  auto jwks = jose::parse_jwks(snapshot->jwks_json);
  ASSERT_TRUE(jwks);
  std::vector<std::string> kids;
  for (const auto& key : *jwks) kids.push_back(key.kid);
  for (const auto* row : {&retired, &older_active, &newest_active, &newest_retired}) {
    EXPECT_NE(std::find(kids.begin(), kids.end(), row->kid), kids.end()) << row->kid;
  }
}

TEST_F(KeyRingTest, WrongKekFailsLoudlyAndKeepsThePreviousSnapshot) {
  KeyRing ring(store, kKek);
  ASSERT_TRUE(ring.ensure_signing_key(jose::Algorithm::ES256, random, clock));
  ring.reload();
  auto before = ring.snapshot();

  auto foreign = sealed_row(jose::Algorithm::ES256, 1, 2, kOtherKek);
  store.add(foreign);
  try {
    ring.reload();
    FAIL() << "reload accepted a key sealed under another key-encryption key";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "signing key " + foreign.kid + " cannot be unsealed: wrong key-encryption key?");
  }
  EXPECT_EQ(ring.snapshot(), before);

  KeyRing wrong(store, kOtherKek);
  EXPECT_THROW(wrong.reload(), std::runtime_error);
  EXPECT_EQ(wrong.snapshot(), nullptr);
}

// Rotating the key-encryption key (docs/configuration.md): the new one first, the old one second;
// keys sealed under the old one still open, new keys are sealed under the new one, and once the old
// signing key is pruned the old key-encryption key is no longer needed.
TEST_F(KeyRingTest, RotatingTheKeyEncryptionKey) {
  KeyRing before(store, kKek);
  ASSERT_TRUE(before.ensure_signing_key(jose::Algorithm::ES256, random, clock));
  const std::string old_kid = store.list_keys()[0].kid;

  KeyRing only_new(store, kOtherKek);
  EXPECT_THROW(only_new.reload(), std::runtime_error);  // the old key cannot be opened without the old KEK

  KeyRing during(store, std::vector<std::string>{kOtherKek, kKek});
  ASSERT_NO_THROW(during.reload());
  EXPECT_EQ(during.snapshot()->active->kid, old_kid);
  clock.advance(10);
  const std::string new_kid = during.rotate(jose::Algorithm::ES256, random, clock);
  during.reload();
  EXPECT_EQ(during.snapshot()->active->kid, new_kid);
  for (const auto& row : store.list_keys()) {
    // The new key is sealed under the new KEK only; the old one stays as it was.
    EXPECT_EQ(static_cast<bool>(jose::unseal(row.private_key_sealed, kOtherKek, row.kid)), row.kid == new_kid);
    EXPECT_EQ(static_cast<bool>(jose::unseal(row.private_key_sealed, kKek, row.kid)), row.kid == old_kid);
  }

  clock.advance(100'000);
  EXPECT_EQ(during.prune(clock, 3600), std::vector<std::string>{old_kid});
  KeyRing after(store, kOtherKek);
  ASSERT_NO_THROW(after.reload());
  EXPECT_EQ(after.snapshot()->active->kid, new_kid);

  EXPECT_THROW(KeyRing(store, std::vector<std::string>{}), std::invalid_argument);
  EXPECT_THROW(KeyRing(store, std::vector<std::string>{kKek, "short"}), std::invalid_argument);
}

TEST_F(KeyRingTest, SealedKeyMovedToAnotherKidDoesNotUnseal) {
  auto a = sealed_row(jose::Algorithm::ES256, 1, 0);
  auto b = sealed_row(jose::Algorithm::ES256, 2, 5);
  std::swap(a.private_key_sealed, b.private_key_sealed);
  store.add(a);
  store.add(b);
  KeyRing ring(store, kKek);
  EXPECT_THROW(ring.reload(), std::runtime_error);
}

TEST_F(KeyRingTest, UnsupportedAlgOrUnreadableKeyFails) {
  auto row = sealed_row(jose::Algorithm::ES256, 1, 0);
  row.alg = "HS256";
  store.add(row);
  KeyRing ring(store, kKek);
  EXPECT_THROW(ring.reload(), std::runtime_error);

  FakeKeyStore mismatched;
  auto rsa_as_ec = sealed_row(jose::Algorithm::RS256, 1, 0);
  rsa_as_ec.alg = "ES256";  // the sealed key is RSA: must not be used for ES256
  mismatched.add(rsa_as_ec);
  KeyRing ring2(mismatched, kKek);
  EXPECT_THROW(ring2.reload(), std::runtime_error);
}

TEST_F(KeyRingTest, NoActiveKeyFails) {
  KeyRing ring(store, kKek);
  EXPECT_THROW(ring.reload(), std::runtime_error);
  store.add(sealed_row(jose::Algorithm::ES256, 1, 2));  // retired only
  try {
    ring.reload();
    FAIL() << "reload accepted a store without an active key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no active signing key"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace latchkey::oauth
