// Connection authentication (docs/design/0011-authentication.md): roles, keys, keyring files and
// the SCRAM-style proof computations of the handshake that Connection runs.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hf3fs::net {

struct RpcConfig;

// Who a connection speaks for. kNone: not authenticated (a server without authentication).
enum class Role : uint8_t { kNone = 0, kServer = 1, kClient = 2, kAdmin = 3 };
std::string_view RoleName(Role role);
Result<Role> ParseRole(std::string_view name);

// The roles that may call a method: a bit per role.
using Access = uint8_t;
constexpr Access RoleBit(Role r) { return static_cast<Access>(1u << static_cast<unsigned>(r)); }
inline constexpr Access kServerRole = RoleBit(Role::kServer);
inline constexpr Access kClientRole = RoleBit(Role::kClient);
inline constexpr Access kAdminRole = RoleBit(Role::kAdmin);
inline constexpr Access kAnyRole = kServerRole | kClientRole | kAdminRole;
inline constexpr Access kServersAndAdmins = kServerRole | kAdminRole;
// True when `role` may call a method with `access`. An unauthenticated connection (kNone) only
// exists on servers that run without authentication, where it may call anything.
inline bool Allows(Access access, Role role) {
  return role == Role::kNone || (access & RoleBit(role)) != 0;
}
// "admin", "server or admin", ...: for error messages.
std::string AccessNames(Access access);

using Key = std::array<uint8_t, 32>;

// What a server keeps to check a role's proofs: never the secret itself.
struct Verifier {
  Key stored_key{};  // SHA256(ClientKey)
  Key server_key{};  // HMAC(secret, "hf3fs server key")
};

Key RandomKey();
Verifier MakeVerifier(const Key& secret);

// The handshake transcript both sides sign.
std::string AuthMessage(Role role, std::string_view client_nonce, std::string_view server_nonce);
// Client: ClientKey XOR HMAC(StoredKey, message).
Key ClientProof(const Key& secret, std::string_view message);
// Server: whether `proof` shows knowledge of the secret behind `v`.
bool CheckClientProof(const Verifier& v, std::string_view message, std::string_view proof);
// Server: HMAC(ServerKey, message); the client checks it with its secret.
Key ServerSignature(const Verifier& v, std::string_view message);
bool CheckServerSignature(const Key& secret, std::string_view message, std::string_view sig);

// A key file: this process's own secret (what it proves when it connects) and the verifiers of
// the roles it accepts (what it checks when others connect). Text, one entry per line:
//   secret <role> <64 hex digits>
//   verifier <role> <64 hex stored key> <64 hex server key>
// '#' starts a comment. Format: docs/formats/rpc.md ("Key files").
class Keyring {
 public:
  // Refuses a file that group or others may read or write (kPermissionDenied, with the chmod to
  // run), and any line it does not understand (kInvalidArgument with the line number).
  static Result<std::shared_ptr<const Keyring>> Load(const std::string& path);
  static Result<Keyring> Parse(std::string_view text, std::string_view origin);

  void SetSecret(Role role, const Key& secret) { secret_ = {role, secret}; }
  void AddVerifier(Role role, const Verifier& v) { verifiers_[static_cast<size_t>(role)] = v; }

  const std::optional<std::pair<Role, Key>>& secret() const { return secret_; }
  const Verifier* VerifierFor(Role role) const;
  bool verifies_any() const;
  std::string Serialize() const;
  // Writes Serialize() to `path` with mode 0600 (created exclusively: an existing file is
  // kAlreadyExists, never overwritten).
  Status WriteFile(const std::string& path) const;

 private:
  std::optional<std::pair<Role, Key>> secret_;
  std::array<std::optional<Verifier>, 4> verifiers_;
};

// A new key set under `dir`: server.keyring (the server secret and the verifiers of every
// role), client.key and admin.key, each mode 0600. Existing files are not overwritten.
Status WriteKeySet(const std::string& dir);

// The keyring that RpcClient and RpcServer use unless given another; null when none is loaded.
std::shared_ptr<const Keyring> ProcessKeyring();
void SetProcessKeyring(std::shared_ptr<const Keyring> keyring);
// Loads `path`, or else rpc.key_file, or else $HF3FS_KEY_FILE, as the process keyring (nothing
// when none is named). Returns what was loaded (null when nothing was).
Result<std::shared_ptr<const Keyring>> LoadProcessKeyring(const RpcConfig& config,
                                                          const std::string& path = "");

}  // namespace hf3fs::net
