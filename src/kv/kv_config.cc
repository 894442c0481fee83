#include "kv/kv_config.h"

#include "common/logging.h"
#include "kv/memory/memory_engine.h"
#include "kv/postgres/pg_engine.h"
#include "kv/rocksdb/rocksdb_engine.h"

namespace hf3fs::kv {

Result<std::unique_ptr<Engine>> OpenEngine(const KvConfig& config) {
  const std::string backend = config.backend.Get();
  HF3FS_TRY_ASSIGN(Durability durability, ParseDurability(config.durability.Get()));
  auto ms = [](Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };
  if (backend == "memory") {
    HF3FS_LOG_WARN(
        "kv.memory_backend persisted=false hint=\"kv.backend = memory keeps every key in this "
        "process only: a restart loses all of it; use rocksdb or postgres for data that must "
        "survive\"");
    return OpenMemoryEngine(MemoryEngineOptions{config.conflict_log_max_bytes.Get()});
  }
  if (backend == "rocksdb") {
    if (config.rocksdb.path.Get().empty()) {
      return Status(StatusCode::kConfigInvalid, "kv.backend = \"rocksdb\" needs kv.rocksdb.path");
    }
    RocksDbEngineOptions o;
    o.path = config.rocksdb.path.Get();
    o.durability = durability;
    o.sync_interval = ms(config.durability_window.Get());
    o.max_group_commit_bytes = config.rocksdb.max_group_commit_bytes.Get();
    o.block_cache_bytes = config.rocksdb.block_cache_bytes.Get();
    o.conflict_log_max_bytes = config.conflict_log_max_bytes.Get();
    return OpenRocksDbEngine(o);
  }
  if (config.postgres.conninfo.Get().empty()) {
    return Status(StatusCode::kConfigInvalid,
                  "kv.backend = \"postgres\" needs kv.postgres.conninfo");
  }
  PostgresEngineOptions o;
  o.durability = durability;
  o.sync_interval = ms(config.durability_window.Get());
  o.conninfo = config.postgres.conninfo.Get();
  o.table = config.postgres.table.Get();
  o.max_connections = config.postgres.max_connections.Get();
  o.connect_timeout = ms(config.postgres.connect_timeout.Get());
  o.pool_wait = ms(config.postgres.pool_wait.Get());
  o.commit_resolve_timeout = ms(config.postgres.commit_resolve_timeout.Get());
  return OpenPostgresEngine(o);
}

}  // namespace hf3fs::kv
