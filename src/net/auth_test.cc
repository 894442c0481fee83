// Connection authentication (docs/design/0011-authentication.md): the proof computations, key
// files, and the handshake and per-method roles over real loopback connections.
#include "net/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core.pb.h"
#include "net/core_service.h"
#include "net/frame.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/test_util.h"
#include "rpc.pb.h"

namespace hf3fs::net {
namespace {

using namespace std::chrono_literals;
using testing::RunSync;

std::string Nonce() {
  Key k = RandomKey();
  return std::string(k.begin(), k.end());
}

std::string Str(const Key& k) { return std::string(k.begin(), k.end()); }

TEST(AuthProof, TheRightSecretProvesAndNoOtherDoes) {
  Key secret = RandomKey();
  Verifier v = MakeVerifier(secret);
  std::string m = AuthMessage(Role::kClient, Nonce(), Nonce());
  EXPECT_TRUE(CheckClientProof(v, m, Str(ClientProof(secret, m))));
  // Another secret, a tampered proof, a proof for another transcript (replay), a short proof.
  EXPECT_FALSE(CheckClientProof(v, m, Str(ClientProof(RandomKey(), m))));
  Key tampered = ClientProof(secret, m);
  tampered[7] ^= 1;
  EXPECT_FALSE(CheckClientProof(v, m, Str(tampered)));
  std::string other = AuthMessage(Role::kClient, Nonce(), Nonce());
  EXPECT_FALSE(CheckClientProof(v, other, Str(ClientProof(secret, m))));
  EXPECT_FALSE(CheckClientProof(v, m, Str(ClientProof(secret, m)).substr(0, 31)));
  // The same nonces under another role are another transcript.
  EXPECT_NE(AuthMessage(Role::kClient, "a", "b"), AuthMessage(Role::kAdmin, "a", "b"));
}

TEST(AuthProof, TheVerifierDoesNotProveAsAClient) {
  Key secret = RandomKey();
  Verifier v = MakeVerifier(secret);
  std::string m = AuthMessage(Role::kAdmin, Nonce(), Nonce());
  // Someone holding only the stored verifier (a server's key file) tries the verifier parts as a
  // secret: no proof they make is accepted.
  EXPECT_FALSE(CheckClientProof(v, m, Str(ClientProof(v.stored_key, m))));
  EXPECT_FALSE(CheckClientProof(v, m, Str(ClientProof(v.server_key, m))));
  // The server's signature checks with the secret, and fails with another.
  EXPECT_TRUE(CheckServerSignature(secret, m, Str(ServerSignature(v, m))));
  EXPECT_FALSE(CheckServerSignature(RandomKey(), m, Str(ServerSignature(v, m))));
  EXPECT_FALSE(CheckServerSignature(secret, m, Str(ServerSignature(MakeVerifier(RandomKey()), m))));
}

class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("auth_keys_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const char* name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(KeyFiles, KeygenWritesASetThatWorksTogether) {
  ASSERT_TRUE(WriteKeySet(dir_.string()).ok());
  for (const char* f : {"server.keyring", "client.key", "admin.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat(Path(f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  auto server = Keyring::Load(Path("server.keyring"));
  auto client = Keyring::Load(Path("client.key"));
  auto admin = Keyring::Load(Path("admin.key"));
  ASSERT_TRUE(server.ok() && client.ok() && admin.ok());
  ASSERT_EQ((*server)->secret()->first, Role::kServer);
  ASSERT_EQ((*client)->secret()->first, Role::kClient);
  ASSERT_EQ((*admin)->secret()->first, Role::kAdmin);
  std::string m = AuthMessage(Role::kClient, Nonce(), Nonce());
  EXPECT_TRUE(CheckClientProof(*(*server)->VerifierFor(Role::kClient), m,
                               Str(ClientProof((*client)->secret()->second, m))));
  // The client's proof is not an admin's.
  EXPECT_FALSE(CheckClientProof(*(*server)->VerifierFor(Role::kAdmin), m,
                                Str(ClientProof((*client)->secret()->second, m))));
  // Only the server keyring holds client and server verifiers; the client file verifies admins
  // (its mount's core service) and holds no other secret.
  EXPECT_EQ((*client)->VerifierFor(Role::kClient), nullptr);
  EXPECT_NE((*client)->VerifierFor(Role::kAdmin), nullptr);
  EXPECT_FALSE((*admin)->verifies_any());
  // A second keygen never overwrites the set.
  auto again = WriteKeySet(dir_.string());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again;
}

TEST_F(KeyFiles, RefusesFilesOthersCanReadAndLinesItDoesNotKnow) {
  ASSERT_TRUE(WriteKeySet(dir_.string()).ok());
  ::chmod(Path("admin.key").c_str(), 0644);
  auto r = Keyring::Load(Path("admin.key"));
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status();
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos) << r.status();
  EXPECT_EQ(Keyring::Load(Path("missing.key")).status().code(), StatusCode::kNotFound);

  for (const std::string& bad : std::vector<std::string>{
           "secret client 1234", "secret wizard " + std::string(64, 'a'),
           "verifier admin " + std::string(64, 'a'), "password hunter2",
           "secret client " + std::string(63, 'a') + "g", "# only a comment"}) {
    EXPECT_EQ(Keyring::Parse(bad, "test").status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto two = Keyring::Parse(
      "secret client " + std::string(64, 'a') + "\nsecret admin " + std::string(64, 'b'), "test");
  EXPECT_FALSE(two.ok());
  Keyring k;
  k.SetSecret(Role::kAdmin, RandomKey());
  k.AddVerifier(Role::kClient, MakeVerifier(RandomKey()));
  auto back = Keyring::Parse(k.Serialize(), "round trip");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->secret()->second, k.secret()->second);
  EXPECT_EQ(back->VerifierFor(Role::kClient)->stored_key, k.VerifierFor(Role::kClient)->stored_key);
}

// ---- over loopback ----

struct RootConfig : config::Section {
  RpcConfig rpc{this, "rpc"};
};

std::shared_ptr<const Keyring> SecretOf(Role role, const Key& secret) {
  auto k = std::make_shared<Keyring>();
  k->SetSecret(role, secret);
  return k;
}

class AuthRpc : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* k : {&server_key_, &client_key_, &admin_key_}) *k = RandomKey();
    auto ring = std::make_shared<Keyring>();
    ring->SetSecret(Role::kServer, server_key_);
    ring->AddVerifier(Role::kServer, MakeVerifier(server_key_));
    ring->AddVerifier(Role::kClient, MakeVerifier(client_key_));
    ring->AddVerifier(Role::kAdmin, MakeVerifier(admin_key_));
    server_ring_ = ring;
    core_ = std::make_unique<CoreService>(
        &cfg_, [this](std::string) { ++shutdowns_; }, [] { return ServerInfo{}; });
    core_->Register(registry_);
    server_pool_.Start();
    client_pool_.Start();
    (void)cfg_.rpc.auth_timeout.Set(std::chrono::milliseconds(300));
  }
  void TearDown() override {
    clients_.clear();
    if (server_) server_->Stop();
    server_pool_.Stop();
    client_pool_.Stop();
  }
  void Serve(std::shared_ptr<const Keyring> ring) {
    server_ = std::make_unique<RpcServer>(server_pool_, cfg_.rpc, registry_);
    server_->SetKeyring(std::move(ring));
    ASSERT_TRUE(server_->Start(Address{"127.0.0.1", 0}).ok());
  }
  RpcClient& Client(std::shared_ptr<const Keyring> ring) {
    clients_.push_back(std::make_unique<RpcClient>(client_pool_, cfg_.rpc, 7));
    clients_.back()->SetKeyring(std::move(ring));
    return *clients_.back();
  }
  Status Echo(RpcClient& c) {
    core::EchoReq req;
    req.set_text("hi");
    return RunSync(client_pool_.Get(0), [&]() -> awaitable<Status> {
      auto r = co_await c.Call<core::EchoRsp>(server_->address(), rpc::SERVICE_CORE,
                                              core::CORE_ECHO, req);
      co_return r.status();
    });
  }
  Status Shutdown(RpcClient& c) {
    return RunSync(client_pool_.Get(0), [&]() -> awaitable<Status> {
      auto r = co_await c.Call<core::ShutdownRsp>(server_->address(), rpc::SERVICE_CORE,
                                                  core::CORE_SHUTDOWN, core::ShutdownReq());
      co_return r.status();
    });
  }

  RootConfig cfg_;
  ServiceRegistry registry_;
  std::unique_ptr<CoreService> core_;
  IoContextPool server_pool_{1, "srv"};
  IoContextPool client_pool_{1, "cli"};
  std::unique_ptr<RpcServer> server_;
  std::vector<std::unique_ptr<RpcClient>> clients_;
  Key server_key_, client_key_, admin_key_;
  std::shared_ptr<const Keyring> server_ring_;
  std::atomic<int> shutdowns_{0};
};

TEST_F(AuthRpc, EachKeyGetsItsRoleAndNoMore) {
  Serve(server_ring_);
  auto& client = Client(SecretOf(Role::kClient, client_key_));
  auto& admin = Client(SecretOf(Role::kAdmin, admin_key_));
  auto& server = Client(SecretOf(Role::kServer, server_key_));
  EXPECT_TRUE(Echo(client).ok());
  EXPECT_TRUE(Echo(admin).ok());
  EXPECT_TRUE(Echo(server).ok());
  // shutdown is admin only: refused for client and server roles, nothing happens.
  Status st = Shutdown(client);
  EXPECT_EQ(st.code(), StatusCode::kRpcAuthDenied) << st;
  EXPECT_NE(st.message().find("admin only"), std::string::npos) << st;
  EXPECT_EQ(Shutdown(server).code(), StatusCode::kRpcAuthDenied);
  EXPECT_EQ(shutdowns_.load(), 0);
  // The refused client's connection keeps serving.
  EXPECT_TRUE(Echo(client).ok());
  EXPECT_TRUE(Shutdown(admin).ok());
  EXPECT_EQ(shutdowns_.load(), 1);
}

TEST_F(AuthRpc, AClientWithoutAKeyIsRefusedAndTheServerKeepsServing) {
  Serve(server_ring_);
  auto& anonymous = Client(nullptr);
  Status st = Echo(anonymous);
  EXPECT_EQ(st.code(), StatusCode::kRpcAuthRequired) << st;
  // Refused again; or, when the call races the server closing the first connection, lost with
  // it. Never run.
  Status again = Shutdown(anonymous);
  EXPECT_TRUE(again.code() == StatusCode::kRpcAuthRequired ||
              again.code() == StatusCode::kRpcConnectionLost)
      << again;
  EXPECT_EQ(shutdowns_.load(), 0);
  EXPECT_TRUE(Echo(Client(SecretOf(Role::kClient, client_key_))).ok());
}

TEST_F(AuthRpc, AWrongKeyFailsTheHandshake) {
  Serve(server_ring_);
  // A made-up key, and the right key claimed for another role.
  Status st = Echo(Client(SecretOf(Role::kAdmin, RandomKey())));
  EXPECT_EQ(st.code(), StatusCode::kRpcAuthFailed) << st;
  EXPECT_NE(st.message().find("wrong admin key"), std::string::npos) << st;
  st = Echo(Client(SecretOf(Role::kAdmin, client_key_)));
  EXPECT_NE(st.message().find("wrong admin key"), std::string::npos) << st;
  EXPECT_EQ(shutdowns_.load(), 0);
}

TEST_F(AuthRpc, AClientWithAKeyRefusesAServerThatCannotProveItsOwn) {
  // An impostor that learned the client's stored key (enough to accept the client's proof) but
  // not the secret's server key, so it signs with a key of its own; then a server with no keys.
  auto impostor = std::make_shared<Keyring>();
  Key impostor_secret = RandomKey();
  impostor->AddVerifier(Role::kClient, Verifier{MakeVerifier(client_key_).stored_key,
                                                MakeVerifier(impostor_secret).server_key});
  Serve(impostor);
  Status st = Echo(Client(SecretOf(Role::kClient, client_key_)));
  EXPECT_NE(st.message().find("could not prove"), std::string::npos) << st;
  server_->Stop();
  Serve(nullptr);
  st = Echo(Client(SecretOf(Role::kClient, client_key_)));
  EXPECT_NE(st.message().find("does not authenticate"), std::string::npos) << st;
}

TEST_F(AuthRpc, WithoutAuthRequiredAnonymousPeersAreServedAndKeyedOnesKeepTheirRole) {
  (void)cfg_.rpc.auth_required.Set(false);
  Serve(server_ring_);
  EXPECT_TRUE(Echo(Client(nullptr)).ok());
  auto& client = Client(SecretOf(Role::kClient, client_key_));
  EXPECT_TRUE(Echo(client).ok());
  EXPECT_EQ(Shutdown(client).code(), StatusCode::kRpcAuthDenied);
}

TEST_F(AuthRpc, ASilentOrGarbledPeerIsCutOffAndOthersAreServed) {
  Serve(server_ring_);
  boost::asio::io_context io;
  auto ep = *server_->address().ToEndpoint();
  // Connects and says nothing: closed after rpc.auth_timeout (300 ms here).
  boost::asio::ip::tcp::socket silent(io);
  silent.connect(ep);
  // Sends a hello for a role that does not exist, then garbage.
  boost::asio::ip::tcp::socket garbled(io);
  garbled.connect(ep);
  rpc::Envelope env;
  env.set_service_id(rpc::SERVICE_AUTH);
  env.set_method_id(rpc::AUTH_HELLO);
  rpc::AuthHello hello;
  hello.set_version(1);
  hello.set_role(static_cast<rpc::AuthRole>(9));
  hello.set_client_nonce(Nonce());
  std::vector<uint8_t> frame;
  ASSERT_TRUE(AppendFrame(frame, env, &hello, 0, std::nullopt, 1 << 20).ok());
  boost::asio::write(garbled, boost::asio::buffer(frame));
  auto closed_within = [](boost::asio::ip::tcp::socket& s) {
    std::vector<uint8_t> buf(4096);
    boost::system::error_code ec;
    for (;;) {
      s.read_some(boost::asio::buffer(buf), ec);
      if (ec) return true;  // eof: the server closed it (a refusal frame may come first)
    }
  };
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_within(silent));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(closed_within(garbled));
  EXPECT_TRUE(Echo(Client(SecretOf(Role::kClient, client_key_))).ok());
}

}  // namespace
}  // namespace hf3fs::net
