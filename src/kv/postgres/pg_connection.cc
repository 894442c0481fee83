#include "kv/postgres/pg_connection.h"

#include <fmt/format.h>

#include <array>

#include "common/logging.h"

namespace hf3fs::kv::pg {
namespace {

constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kByteaArrayOid = 1001;

struct StmtDef {
  const char* name;
  const char* sql;  // {0} is the table name
  std::vector<Oid> types;
};

const std::array<StmtDef, static_cast<size_t>(Stmt::kCount)>& StmtDefs() {
  static const std::array<StmtDef, static_cast<size_t>(Stmt::kCount)> defs = {{
      {"kv_get", "SELECT value FROM {0} WHERE key = $1", {kByteaOid}},
      {"kv_exists", "SELECT 1 FROM {0} WHERE key = $1", {kByteaOid}},
      {"kv_range_asc",
       "SELECT key, value FROM {0} WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
       {kByteaOid, kByteaOid, kInt8Oid}},
      {"kv_range_desc",
       "SELECT key, value FROM {0} WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3",
       {kByteaOid, kByteaOid, kInt8Oid}},
      {"kv_count_range",
       "SELECT count(*) FROM {0} WHERE key >= $1 AND key < $2",
       {kByteaOid, kByteaOid}},
      // Every write returns the transaction id, so that a commit whose reply is lost can be
      // resolved later with pg_xact_status.
      {"kv_set",
       "INSERT INTO {0} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
       "EXCLUDED.value RETURNING pg_current_xact_id()::text",
       {kByteaOid, kByteaOid}},
      {"kv_clear",
       "WITH d AS (DELETE FROM {0} WHERE key = $1) SELECT pg_current_xact_id()::text",
       {kByteaOid}},
      {"kv_clear_range",
       "WITH d AS (DELETE FROM {0} WHERE key >= $1 AND key < $2) "
       "SELECT pg_current_xact_id()::text",
       {kByteaOid, kByteaOid}},
      {"kv_xact_status", "SELECT pg_xact_status($1::text::xid8)", {kTextOid}},
      {"kv_get_many", "SELECT key, value FROM {0} WHERE key = ANY($1)", {kByteaArrayOid}},
      {"kv_xact_id", "SELECT pg_current_xact_id()::text", {}},
  }};
  return defs;
}

bool IsConnectionState(std::string_view sqlstate) {
  // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now;
  // 53: insufficient resources (too many connections, out of memory); 58: system error.
  return sqlstate.substr(0, 2) == "08" || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03" || sqlstate.substr(0, 2) == "53" || sqlstate.substr(0, 2) == "58";
}

std::string TrimMessage(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Status MapPgError(PGconn* conn, const PGresult* res, std::string_view what) {
  const char* sqlstate_c = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string_view sqlstate = sqlstate_c ? sqlstate_c : "";
  std::string msg = TrimMessage(res ? PQresultErrorMessage(res) : nullptr);
  if (msg.empty()) msg = TrimMessage(PQerrorMessage(conn));
  if (sqlstate == "40001" || sqlstate == "40P01") {
    return MakeStatus(StatusCode::kTxnConflict, "postgres {}: {} ({})", what, msg, sqlstate);
  }
  if (IsConnectionState(sqlstate) || PQstatus(conn) != CONNECTION_OK) {
    return MakeStatus(StatusCode::kKvUnavailable, "postgres {}: {} ({})", what, msg,
                      sqlstate.empty() ? "connection" : sqlstate);
  }
  return MakeStatus(StatusCode::kKvBackendError, "postgres {}: {} ({})", what, msg, sqlstate);
}

bool IsValidTableName(std::string_view table) {
  if (table.empty() || table.size() > 63) return false;
  if (!(table[0] == '_' || (table[0] >= 'a' && table[0] <= 'z'))) return false;
  for (char c : table) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const std::string& conninfo, std::chrono::milliseconds connect_timeout) {
  // Defaults come before "dbname", whose expansion (the conninfo) overrides them.
  std::string timeout_s =
      std::to_string(std::max<int64_t>(1, (connect_timeout.count() + 999) / 1000));
  const char* keys[] = {
      "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
      "dbname",          nullptr};
  const char* values[] = {timeout_s.c_str(), "1", "10", "5", "3", conninfo.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn == nullptr) return Status(StatusCode::kKvUnavailable, "postgres connect: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Status st = MakeStatus(StatusCode::kKvUnavailable, "postgres connect: {}",
                           TrimMessage(PQerrorMessage(conn)));
    PQfinish(conn);
    return st;
  }
  // Notices ("relation already exists, skipping") go to the debug log instead of stderr.
  PQsetNoticeProcessor(
      conn,
      [](void*, const char* msg) {
        HF3FS_LOG_DEBUG("kv.postgres_notice msg=\"{}\"", TrimMessage(msg));
      },
      nullptr);
  return std::unique_ptr<PgConnection>(new PgConnection(conn));
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Status PgConnection::EnsureTable(const std::string& table) {
  // Concurrent CREATE TABLE IF NOT EXISTS can still fail on the catalog's unique index; the
  // advisory lock makes creators take turns.
  std::string sql = fmt::format(
      "BEGIN; SELECT pg_advisory_xact_lock(7306740354); "
      "CREATE TABLE IF NOT EXISTS {} (key bytea PRIMARY KEY, value bytea NOT NULL); COMMIT",
      table);
  PgResultPtr res(PQexec(conn_, sql.c_str()));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    Status st = MapPgError(conn_, res.get(), "create table");
    PgResultPtr rollback(PQexec(conn_, "ROLLBACK"));
    return st;
  }
  return Status::Ok();
}

Status PgConnection::Prepare(const std::string& table) {
  for (const auto& def : StmtDefs()) {
    std::string sql = fmt::format(fmt::runtime(def.sql), table);
    PgResultPtr res(PQprepare(conn_, def.name, sql.c_str(), static_cast<int>(def.types.size()),
                              def.types.data()));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return MapPgError(conn_, res.get(), fmt::format("prepare {}", def.name));
    }
  }
  return Status::Ok();
}

Status PgConnection::EndPendingRollback() {
  if (!rollback_pending_) return Status::Ok();
  rollback_pending_ = false;
  PgResultPtr res(PQexec(conn_, "ROLLBACK"));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
    return MapPgError(conn_, res.get(), "ROLLBACK");
  }
  return Status::Ok();
}

Status PgConnection::Command(const char* sql) {
  HF3FS_TRY(EndPendingRollback());
  PgResultPtr res(PQexec(conn_, sql));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK)
    return MapPgError(conn_, res.get(), sql);
  return Status::Ok();
}

namespace {

// Parameters laid out for libpq (the arrays point into the params and into int8_bufs).
struct Encoded {
  static constexpr size_t kMaxParams = 3;
  const char* values[kMaxParams];
  int lengths[kMaxParams];
  int formats[kMaxParams];
  char int8_bufs[kMaxParams][8];
};

void Encode(const std::vector<PgParam>& params, Encoded& e) {
  HF3FS_CHECK(params.size() <= Encoded::kMaxParams);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& p = params[i];
    e.formats[i] = p.kind == PgParam::Kind::kText ? 0 : 1;
    switch (p.kind) {
      case PgParam::Kind::kNull:
        e.values[i] = nullptr;
        e.lengths[i] = 0;
        break;
      case PgParam::Kind::kInt8: {
        // int8 in binary format: 8 bytes, big-endian.
        auto v = static_cast<uint64_t>(p.int8);
        for (int b = 0; b < 8; ++b) e.int8_bufs[i][b] = static_cast<char>(v >> (56 - 8 * b));
        e.values[i] = e.int8_bufs[i];
        e.lengths[i] = 8;
        break;
      }
      case PgParam::Kind::kBytes:
      case PgParam::Kind::kText:
        // An empty value must not be sent as a null pointer (that would be SQL NULL).
        e.values[i] = p.bytes.data() != nullptr ? p.bytes.data() : "";
        e.lengths[i] = static_cast<int>(p.bytes.size());
        break;
    }
  }
}

void PutBe32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

}  // namespace

std::string EncodeByteaArray(const std::vector<std::string_view>& items) {
  std::string out;
  PutBe32(out, 1);  // dimensions
  PutBe32(out, 0);  // no NULL elements
  PutBe32(out, kByteaOid);
  PutBe32(out, static_cast<uint32_t>(items.size()));
  PutBe32(out, 1);  // lower bound
  for (auto item : items) {
    PutBe32(out, static_cast<uint32_t>(item.size()));
    out.append(item);
  }
  return out;
}

Result<PgResultPtr> PgConnection::Query(Stmt stmt, const std::vector<PgParam>& params) {
  if (rollback_pending_) {
    HF3FS_TRY_ASSIGN(auto results, Pipeline({PipelineStep{.stmt = stmt, .params = params}}));
    return std::move(results.back());
  }
  const auto& def = StmtDefs()[static_cast<size_t>(stmt)];
  HF3FS_CHECK(params.size() == def.types.size());
  Encoded e;
  Encode(params, e);
  PgResultPtr res(PQexecPrepared(conn_, def.name, static_cast<int>(params.size()), e.values,
                                 e.lengths, e.formats, /*resultFormat=*/1));
  if (!res || PQresultStatus(res.get()) != PGRES_TUPLES_OK) {
    return MapPgError(conn_, res.get(), def.name);
  }
  return res;
}

Result<std::vector<PgResultPtr>> PgConnection::Pipeline(const std::vector<PipelineStep>& steps) {
  if (PQenterPipelineMode(conn_) != 1) return MapPgError(conn_, nullptr, "enter pipeline mode");
  Status sent;
  // A deferred ROLLBACK goes first; it cannot fail on a live connection, and its result is
  // dropped below.
  bool rollback = rollback_pending_;
  rollback_pending_ = false;
  if (rollback && PQsendQueryParams(conn_, "ROLLBACK", 0, nullptr, nullptr, nullptr, nullptr, 1) != 1) {
    sent = MapPgError(conn_, nullptr, "send");
  }
  for (const auto& step : steps) {
    if (!sent.ok()) break;
    int ok;
    if (step.command != nullptr) {
      ok = PQsendQueryParams(conn_, step.command, 0, nullptr, nullptr, nullptr, nullptr, 1);
    } else {
      const auto& def = StmtDefs()[static_cast<size_t>(step.stmt)];
      HF3FS_CHECK(step.params.size() == def.types.size());
      Encoded e;
      Encode(step.params, e);
      ok = PQsendQueryPrepared(conn_, def.name, static_cast<int>(step.params.size()), e.values,
                               e.lengths, e.formats, /*resultFormat=*/1);
    }
    if (ok != 1) {
      sent = MapPgError(conn_, nullptr, "send");
      break;
    }
  }
  if (sent.ok() && PQpipelineSync(conn_) != 1) sent = MapPgError(conn_, nullptr, "pipeline sync");
  if (!sent.ok()) {
    // The connection is in an unknown state: the pool drops it (healthy() may still say ok).
    PQexitPipelineMode(conn_);
    return Status(StatusCode::kKvUnavailable, sent.message());
  }
  std::vector<PgResultPtr> results;
  Status first;
  if (rollback) {
    PgResultPtr res(PQgetResult(conn_));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      first = MapPgError(conn_, res.get(), "ROLLBACK");
    }
    if (res) PgResultPtr end(PQgetResult(conn_));
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    PgResultPtr res(PQgetResult(conn_));
    if (!res) {
      if (first.ok()) first = MapPgError(conn_, nullptr, "pipeline");
      break;
    }
    auto status = PQresultStatus(res.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && first.ok()) {
      const char* what =
          steps[i].command ? steps[i].command : StmtDefs()[static_cast<size_t>(steps[i].stmt)].name;
      first = status == PGRES_PIPELINE_ABORTED
                  ? Status(StatusCode::kKvBackendError, "postgres pipeline aborted")
                  : MapPgError(conn_, res.get(), what);
    }
    results.push_back(std::move(res));
    PgResultPtr end(PQgetResult(conn_));  // each query's results end with a null
  }
  // The final PGRES_PIPELINE_SYNC, then leave pipeline mode.
  while (true) {
    PgResultPtr res(PQgetResult(conn_));
    if (!res) break;
    if (PQresultStatus(res.get()) == PGRES_PIPELINE_SYNC) break;
  }
  PQexitPipelineMode(conn_);
  if (!first.ok()) return first;
  return results;
}

}  // namespace hf3fs::kv::pg
