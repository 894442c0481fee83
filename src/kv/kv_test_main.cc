// main() of kv_test. `kv_test --kv-child <mode> ...` runs a child role used by the multi-process
// tests (a fresh process image rather than a fork of the threaded test process); anything else
// runs the tests.
#include "kv/kv_test_util.h"

namespace hf3fs::kv::test {
namespace {

// ---- Child modes -------------------------------------------------------------------------------

Result<std::unique_ptr<Engine>> OpenForChild(const std::vector<std::string>& args, size_t at) {
  const std::string& backend = args.at(at);
  if (backend == "memory") return OpenMemoryEngine();
  if (backend == "rocksdb") return OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(at + 1)});
  PostgresEngineOptions o;
  o.conninfo = args.at(at + 1);
  o.table = args.at(at + 2);
  return OpenPostgresEngine(o);
}

// kv_test --kv-child <mode> ...: exit status 0 means the child did what the parent expects.
int ChildMain(const std::vector<std::string>& args) {
  const std::string& mode = args.at(0);
  if (mode == "expect-locked") {  // <rocksdb path>: opening must fail
    auto e = OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(1)});
    if (e.ok()) return 1;
    return e.status().code() == StatusCode::kKvBackendError ? 0 : 2;
  }
  if (mode == "increment") {  // <count> <backend args>: count increments, then check own view
    int count = std::stoi(args.at(1));
    auto engine = OpenForChild(args, 2);
    if (!engine.ok()) {
      fmt::print(stderr, "child open: {}\n", engine.status());
      return 3;
    }
    for (int i = 0; i < count; ++i) {
      Status st = Increment(**engine, "counter");
      if (!st.ok()) {
        fmt::print(stderr, "child increment: {}\n", st);
        return 4;
      }
    }
    if (args.at(2) == "memory") return *ReadCounter(**engine, "counter") == uint64_t(count) ? 0 : 5;
    return 0;
  }
  if (mode == "writer") {  // <rocksdb path>: commit w/<i> forever, report each i after Commit
    auto engine = OpenRocksDbEngine(RocksDbEngineOptions{.path = args.at(1)});
    if (!engine.ok()) return 3;
    for (uint32_t i = 0;; ++i) {
      auto txn = (*engine)->Begin();
      if (!txn.ok() || !(*txn)->Set(fmt::format("w/{:08}", i), std::to_string(i)).ok() ||
          !(*txn)->Commit().ok()) {
        return 4;
      }
      if (write(1, &i, sizeof(i)) != static_cast<ssize_t>(sizeof(i))) return 5;
    }
  }
  return 100;
}

}  // namespace
}  // namespace hf3fs::kv::test

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--kv-child") {
    return hf3fs::kv::test::ChildMain(std::vector<std::string>(argv + 2, argv + argc));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
