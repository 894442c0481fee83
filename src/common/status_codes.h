// The one table of hf3fs status codes.
//
// Every expected failure anywhere in hf3fs is one of these codes. Each code belongs to the range of
// the component that owns it, says whether a caller may retry the same request unchanged
// (retryable), and maps to the errno that the FUSE client returns for it.
//
// Ranges: common 0-999, net 1000-1999, kv 2000-2999, mgmtd 3000-3999, storage + chunk 4000-4999,
// meta 5000-5999, client 6000-6999, fuse + usrbio 7000-7999. Codes are part of the wire protocol:
// never renumber one; append new codes in their component's range.
#pragma once

#include <cerrno>
#include <cstdint>

// X(Name, number, retryable, errno, short description)
#define HF3FS_STATUS_CODE_TABLE(X)                                                                \
  X(kOk, 0, false, 0, "ok")                                                                       \
  /* common: 1-999 */                                                                             \
  X(kInvalidArgument, 1, false, EINVAL, "invalid argument")                                       \
  X(kNotFound, 2, false, ENOENT, "not found")                                                     \
  X(kAlreadyExists, 3, false, EEXIST, "already exists")                                           \
  X(kTimeout, 4, true, ETIMEDOUT, "timed out")                                                    \
  X(kCancelled, 5, false, ECANCELED, "cancelled")                                                 \
  X(kInternal, 6, false, EIO, "internal error")                                                   \
  X(kIoError, 7, false, EIO, "I/O error")                                                         \
  X(kOutOfRange, 8, false, ERANGE, "out of range")                                                \
  X(kResourceExhausted, 9, true, EAGAIN, "resource exhausted")                                    \
  X(kPermissionDenied, 10, false, EACCES, "permission denied")                                    \
  X(kUnavailable, 11, true, EAGAIN, "temporarily unavailable")                                    \
  X(kShuttingDown, 12, true, ESHUTDOWN, "shutting down")                                          \
  X(kFailedPrecondition, 13, false, EINVAL, "failed precondition")                                \
  X(kDataCorruption, 14, false, EIO, "data corruption detected")                                  \
  X(kNoSpace, 15, false, ENOSPC, "no space left")                                                 \
  X(kConfigInvalid, 100, false, EINVAL, "invalid configuration")                                  \
  X(kConfigUnknownKey, 101, false, EINVAL, "unknown configuration key")                           \
  X(kConfigNotHotUpdatable, 102, false, EPERM, "configuration key is not hot-updatable")          \
  /* net: 1000-1999 */                                                                            \
  X(kRpcConnectFailed, 1000, true, EHOSTUNREACH, "could not connect")                             \
  X(kRpcConnectionLost, 1001, true, ECONNRESET, "connection lost")                                \
  X(kRpcTimeout, 1002, true, ETIMEDOUT, "rpc deadline exceeded")                                  \
  X(kRpcBadFrame, 1003, false, EPROTO, "malformed frame")                                         \
  X(kRpcFrameTooLarge, 1004, false, EMSGSIZE, "frame exceeds the configured maximum")             \
  X(kRpcChecksumMismatch, 1005, true, EIO, "frame checksum mismatch")                             \
  X(kRpcUnknownService, 1006, false, ENOSYS, "unknown service")                                   \
  X(kRpcUnknownMethod, 1007, false, ENOSYS, "unknown method")                                     \
  X(kRpcBadMessage, 1008, false, EPROTO, "message does not parse")                                \
  X(kRpcServerBusy, 1009, true, EAGAIN, "server busy")                                            \
  X(kRpcBadAddress, 1010, false, EINVAL, "bad network address")                                   \
  X(kRpcAttachmentTooLarge, 1011, false, EMSGSIZE, "attachment larger than the receive buffer")   \
  X(kRpcAuthRequired, 1012, false, EACCES, "the server requires authentication")                  \
  X(kRpcAuthFailed, 1013, false, EACCES, "connection authentication failed")                      \
  X(kRpcAuthDenied, 1014, false, EPERM, "the connection's role may not call this method")         \
  X(kHttpBadRequest, 1100, false, EINVAL, "bad http request")                                     \
  /* kv: 2000-2999 */                                                                             \
  X(kTxnConflict, 2000, true, EAGAIN, "transaction conflict")                                     \
  X(kTxnTooOld, 2001, true, EAGAIN, "transaction too old to validate")                            \
  X(kTxnTooLarge, 2002, false, E2BIG, "transaction exceeds the size limit")                       \
  X(kKvKeyTooLarge, 2003, false, ENAMETOOLONG, "key exceeds the size limit")                      \
  X(kKvValueTooLarge, 2004, false, E2BIG, "value exceeds the size limit")                         \
  X(kTxnClosed, 2005, false, EINVAL, "transaction already committed or cancelled")                \
  X(kTxnReadOnly, 2006, false, EROFS, "write in a read-only transaction")                         \
  X(kKvBackendError, 2007, false, EIO, "kv backend error")                                        \
  X(kKvUnavailable, 2008, true, EAGAIN, "kv store unavailable")                                   \
  X(kTxnCommitUnknown, 2009, false, EIO, "commit outcome unknown")                                \
  /* mgmtd: 3000-3999 */                                                                          \
  X(kMgmtdNotPrimary, 3000, true, EAGAIN, "not the primary mgmtd")                                \
  X(kMgmtdClusterNotInitialized, 3001, false, EINVAL, "cluster not initialized")                  \
  X(kMgmtdNodeNotFound, 3002, false, ENOENT, "node not registered")                               \
  X(kMgmtdNodeExists, 3003, false, EEXIST, "node already registered")                             \
  X(kMgmtdNodeDisabled, 3004, false, EPERM, "node disabled")                                      \
  X(kMgmtdStaleHeartbeat, 3005, false, EINVAL, "stale heartbeat")                                 \
  X(kMgmtdClockSkew, 3006, false, EINVAL, "clock skew too large")                                 \
  X(kMgmtdTargetNotFound, 3007, false, ENOENT, "target not found")                                \
  X(kMgmtdChainNotFound, 3008, false, ENOENT, "chain not found")                                  \
  X(kMgmtdInvalidChain, 3009, false, EINVAL, "invalid chain")                                     \
  X(kMgmtdBootstrapping, 3010, true, EAGAIN, "primary mgmtd is bootstrapping")                    \
  X(kMgmtdAuthFailed, 3011, false, EACCES, "authentication failed")                               \
  X(kMgmtdUserNotFound, 3012, false, ENOENT, "user not found")                                    \
  X(kMgmtdWrongNodeType, 3013, false, EINVAL, "node registered with another type")                \
  X(kMgmtdChainTableNotFound, 3014, false, ENOENT, "chain table not found")                       \
  /* storage + chunk: 4000-4999; the chunk engine uses 4000-4099 */                               \
  X(kChunkNotFound, 4000, false, ENOENT, "chunk not found")                                       \
  X(kChunkNotCommitted, 4001, true, EAGAIN, "chunk has an uncommitted update")                    \
  X(kChunkStaleVersion, 4002, false, ESTALE, "update version is not newer than the chunk's")      \
  X(kChunkVersionGap, 4003, true, EAGAIN, "update version skips a missing update")                \
  X(kChunkVersionMismatch, 4004, false, EINVAL, "commit names a version the chunk does not hold") \
  X(kChunkPendingExists, 4005, true, EAGAIN, "chunk already has a pending update")                \
  X(kChunkChecksumMismatch, 4006, true, EIO, "chunk data does not match its checksum")            \
  X(kChunkSizeMismatch, 4007, false, EINVAL, "chunk size differs from the chunk's")               \
  X(kDiskError, 4008, false, EIO, "disk I/O error; the disk is taken offline")                    \
  /* storage service: 4100-4199 */                                                                \
  X(kStorageNotHead, 4100, true, EAGAIN, "target is not the head of its chain")                   \
  X(kChainVersionMismatch, 4101, true, EAGAIN, "chain version differs from the target's")         \
  X(kTargetNotServing, 4102, true, EAGAIN, "target is not serving")                               \
  X(kTargetNotFound, 4103, true, EAGAIN, "target is not on this storage node")                    \
  X(kChannelBusy, 4104, true, EAGAIN, "update channel has a request in progress")                 \
  X(kForwardFailed, 4105, true, EAGAIN, "could not forward the update to the successor")          \
  X(kNotPredecessor, 4106, true, EAGAIN, "sender is not the target's predecessor")                \
  X(kStaleSequence, 4107, false, EINVAL, "sequence number older than the channel's last")         \
  /* meta: 5000-5999; namespace errors use 5000-5099 */                                           \
  X(kMetaNotFound, 5000, false, ENOENT, "no such file or directory")                              \
  X(kMetaExists, 5001, false, EEXIST, "file exists")                                              \
  X(kMetaNotDirectory, 5002, false, ENOTDIR, "not a directory")                                   \
  X(kMetaIsDirectory, 5003, false, EISDIR, "is a directory")                                      \
  X(kMetaNotEmpty, 5004, false, ENOTEMPTY, "directory not empty")                                 \
  X(kMetaNameTooLong, 5005, false, ENAMETOOLONG, "file name too long")                            \
  X(kMetaTooManySymlinks, 5006, false, ELOOP, "too many levels of symbolic links")                \
  X(kMetaAccessDenied, 5007, false, EACCES, "permission denied")                                  \
  X(kMetaNotPermitted, 5008, false, EPERM, "operation not permitted")                             \
  X(kMetaInvalid, 5009, false, EINVAL, "invalid argument")                                        \
  X(kMetaBusy, 5010, false, EBUSY, "device or resource busy")                                     \
  X(kMetaTooManyLinks, 5011, false, EMLINK, "too many links")                                     \
  X(kMetaNoXattr, 5012, false, ENODATA, "no such attribute")                                      \
  X(kMetaXattrTooBig, 5013, false, E2BIG, "attribute value too large")                            \
  X(kMetaXattrRange, 5014, false, ERANGE, "attribute name out of range")                          \
  X(kMetaQuotaExceeded, 5015, false, EDQUOT, "disk quota exceeded")                               \
  X(kMetaBadSession, 5016, false, EBADF, "no such write session")                                 \
  X(kMetaNotSupported, 5017, false, EOPNOTSUPP, "operation not supported")                        \
  X(kMetaStaleInode, 5018, false, ESTALE, "inode no longer exists")                               \
  X(kMetaNotInitialized, 5019, false, EIO, "namespace not initialized")                           \
  X(kMetaCrossQuota, 5020, false, EXDEV, "move between different directory quotas")               \
  X(kMetaLockConflict, 5021, false, EWOULDBLOCK, "lock held by another owner")

namespace hf3fs {

enum class StatusCode : uint16_t {
#define HF3FS_STATUS_ENUM(name, num, retryable, err, desc) name = num,
  HF3FS_STATUS_CODE_TABLE(HF3FS_STATUS_ENUM)
#undef HF3FS_STATUS_ENUM
};

// Facts about one code, from the table above.
struct StatusCodeInfo {
  StatusCode code;
  const char* name;         // "kNotFound"
  bool retryable;           // the same request may succeed if sent again
  int errno_value;          // what a POSIX caller sees
  const char* description;  // short, lower case
};

// Returns the info of `code`; unknown numbers (e.g. from a newer peer) map to an entry named
// "kUnknown" that is not retryable and maps to EIO.
const StatusCodeInfo& GetStatusCodeInfo(StatusCode code);

// Converts a wire number to a code; numbers not in the table become kInternal.
StatusCode StatusCodeFromNumber(uint32_t number);

// The code's name without its "k" prefix ("NotFound"), for metric labels and JSON.
const char* StatusCodeLabel(StatusCode code);

// Component that owns a code, from its range ("common", "net", ...).
const char* StatusCodeComponent(StatusCode code);

}  // namespace hf3fs
