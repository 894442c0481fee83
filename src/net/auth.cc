#include "net/auth.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/logging.h"
#include "net/rpc_config.h"

namespace hf3fs::net {
namespace {

constexpr std::string_view kClientKeyLabel = "hf3fs client key";
constexpr std::string_view kServerKeyLabel = "hf3fs server key";
constexpr std::string_view kTranscriptLabel = "hf3fs-auth-v1";

Key Hmac(const uint8_t* key, size_t key_len, std::string_view data) {
  Key out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(key_len), reinterpret_cast<const uint8_t*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

Key Sha256(const Key& k) {
  Key out{};
  SHA256(k.data(), k.size(), out.data());
  return out;
}

std::string Hex(const Key& k) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t b : k) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

std::optional<Key> FromHex(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  Key k{};
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    k[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

std::mutex g_mu;
std::shared_ptr<const Keyring> g_keyring;

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kServer:
      return "server";
    case Role::kClient:
      return "client";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kServer, Role::kClient, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return MakeStatus(StatusCode::kInvalidArgument, "unknown role '{}' (server, client or admin)",
                    name);
}

std::string AccessNames(Access access) {
  std::string s;
  for (Role r : {Role::kServer, Role::kClient, Role::kAdmin}) {
    if (access & RoleBit(r)) s += std::string(s.empty() ? "" : " or ") + std::string(RoleName(r));
  }
  return s.empty() ? "nobody" : s;
}

Key RandomKey() {
  Key k{};
  HF3FS_CHECK(RAND_bytes(k.data(), static_cast<int>(k.size())) == 1);
  return k;
}

Verifier MakeVerifier(const Key& secret) {
  Verifier v;
  v.stored_key = Sha256(Hmac(secret.data(), secret.size(), kClientKeyLabel));
  v.server_key = Hmac(secret.data(), secret.size(), kServerKeyLabel);
  return v;
}

std::string AuthMessage(Role role, std::string_view client_nonce, std::string_view server_nonce) {
  std::string m(kTranscriptLabel);
  m += static_cast<char>(role);
  m += client_nonce;
  m += server_nonce;
  return m;
}

Key ClientProof(const Key& secret, std::string_view message) {
  Key client_key = Hmac(secret.data(), secret.size(), kClientKeyLabel);
  Key stored = Sha256(client_key);
  Key sig = Hmac(stored.data(), stored.size(), message);
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] ^= sig[i];
  return client_key;
}

bool CheckClientProof(const Verifier& v, std::string_view message, std::string_view proof) {
  if (proof.size() != 32) return false;
  Key sig = Hmac(v.stored_key.data(), v.stored_key.size(), message);
  Key client_key{};
  for (size_t i = 0; i < 32; ++i) client_key[i] = static_cast<uint8_t>(proof[i]) ^ sig[i];
  Key stored = Sha256(client_key);
  return CRYPTO_memcmp(stored.data(), v.stored_key.data(), stored.size()) == 0;
}

Key ServerSignature(const Verifier& v, std::string_view message) {
  return Hmac(v.server_key.data(), v.server_key.size(), message);
}

bool CheckServerSignature(const Key& secret, std::string_view message, std::string_view sig) {
  if (sig.size() != 32) return false;
  Key want = ServerSignature(MakeVerifier(secret), message);
  return CRYPTO_memcmp(want.data(), sig.data(), want.size()) == 0;
}

// ---- Keyring ----

Result<Keyring> Keyring::Parse(std::string_view text, std::string_view origin) {
  Keyring k;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string kind, role_name, a, b, extra;
    if (!(words >> kind)) continue;
    words >> role_name >> a >> b >> extra;
    auto bad = [&](std::string_view why) {
      return MakeStatus(StatusCode::kInvalidArgument, "{} line {}: {}", origin, n, why);
    };
    auto role = ParseRole(role_name);
    if (!role.ok()) return bad(role.status().message());
    if (kind == "secret") {
      auto key = FromHex(a);
      if (!key || !b.empty()) return bad("expected `secret <role> <64 hex digits>`");
      if (k.secret_) return bad("a second secret (a key file holds at most one)");
      k.SetSecret(*role, *key);
    } else if (kind == "verifier") {
      auto stored = FromHex(a), server = FromHex(b);
      if (!stored || !server || !extra.empty()) {
        return bad("expected `verifier <role> <64 hex digits> <64 hex digits>`");
      }
      k.AddVerifier(*role, Verifier{*stored, *server});
    } else {
      return bad(fmt::format("unknown entry '{}' (secret or verifier)", kind));
    }
  }
  if (!k.secret_ && !k.verifies_any()) {
    return MakeStatus(StatusCode::kInvalidArgument, "{} holds no key", origin);
  }
  return k;
}

Result<std::shared_ptr<const Keyring>> Keyring::Load(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return MakeStatus(StatusCode::kNotFound,
                      "key file {}: {} (make a key set with `hf3fs admin "
                      "keygen --dir DIR`)",
                      path, std::strerror(errno));
  }
  if (st.st_mode & 077) {
    return MakeStatus(StatusCode::kPermissionDenied,
                      "key file {} may be read or written by others (mode {:o}): run `chmod 600 "
                      "{}`",
                      path, st.st_mode & 0777, path);
  }
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) return MakeStatus(StatusCode::kIoError, "key file {}: cannot read", path);
  auto k = Parse(ss.str(), path);
  if (!k.ok()) return k.status();
  return std::make_shared<const Keyring>(std::move(*k));
}

const Verifier* Keyring::VerifierFor(Role role) const {
  auto i = static_cast<size_t>(role);
  if (i >= verifiers_.size() || !verifiers_[i]) return nullptr;
  return &*verifiers_[i];
}

bool Keyring::verifies_any() const {
  for (auto& v : verifiers_) {
    if (v) return true;
  }
  return false;
}

std::string Keyring::Serialize() const {
  std::string s =
      "# hf3fs key file (docs/design/0011-authentication.md). Keep it secret: mode 0600.\n";
  if (secret_) {
    s += fmt::format("secret {} {}\n", RoleName(secret_->first), Hex(secret_->second));
  }
  for (Role r : {Role::kServer, Role::kClient, Role::kAdmin}) {
    if (auto* v = VerifierFor(r)) {
      s += fmt::format("verifier {} {} {}\n", RoleName(r), Hex(v->stored_key), Hex(v->server_key));
    }
  }
  return s;
}

Status Keyring::WriteFile(const std::string& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeStatus(errno == EEXIST ? StatusCode::kAlreadyExists : StatusCode::kIoError,
                      "create key file {}: {}", path, std::strerror(errno));
  }
  std::string s = Serialize();
  bool ok = ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()) && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok)
    return MakeStatus(StatusCode::kIoError, "write key file {}: {}", path, std::strerror(err));
  return Status::Ok();
}

Status WriteKeySet(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeStatus(StatusCode::kIoError, "create {}: {}", dir, ec.message());
  ::chmod(dir.c_str(), 0700);
  Keyring server, client, admin;
  Key s = RandomKey(), c = RandomKey(), a = RandomKey();
  server.SetSecret(Role::kServer, s);
  server.AddVerifier(Role::kServer, MakeVerifier(s));
  server.AddVerifier(Role::kClient, MakeVerifier(c));
  server.AddVerifier(Role::kAdmin, MakeVerifier(a));
  client.SetSecret(Role::kClient, c);
  client.AddVerifier(Role::kAdmin, MakeVerifier(a));  // a mount's core service: admins only
  admin.SetSecret(Role::kAdmin, a);
  auto p = std::filesystem::path(dir);
  for (auto& [name, k] : {std::pair<const char*, const Keyring*>{"server.keyring", &server},
                          {"client.key", &client},
                          {"admin.key", &admin}}) {
    if (std::filesystem::exists(p / name)) {
      return MakeStatus(StatusCode::kAlreadyExists,
                        "{} already exists: a key set is never overwritten (remove it first)",
                        (p / name).string());
    }
  }
  HF3FS_TRY(server.WriteFile((p / "server.keyring").string()));
  HF3FS_TRY(client.WriteFile((p / "client.key").string()));
  HF3FS_TRY(admin.WriteFile((p / "admin.key").string()));
  return Status::Ok();
}

std::shared_ptr<const Keyring> ProcessKeyring() {
  std::lock_guard lock(g_mu);
  return g_keyring;
}

void SetProcessKeyring(std::shared_ptr<const Keyring> keyring) {
  std::lock_guard lock(g_mu);
  g_keyring = std::move(keyring);
}

Result<std::shared_ptr<const Keyring>> LoadProcessKeyring(const RpcConfig& config,
                                                          const std::string& path) {
  std::string p = path;
  if (p.empty()) p = config.key_file.Get();
  if (p.empty()) {
    const char* env = std::getenv("HF3FS_KEY_FILE");
    if (env) p = env;
  }
  if (p.empty()) return std::shared_ptr<const Keyring>();
  HF3FS_TRY_ASSIGN(auto k, Keyring::Load(p));
  SetProcessKeyring(k);
  return k;
}

}  // namespace hf3fs::net
