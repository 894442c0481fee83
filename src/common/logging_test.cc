#include "common/logging.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hf3fs::logging {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Logging, WritesKeyValueLinesAndChangesLevelAtRunTime) {
  auto dir = std::filesystem::path(testing::TempDir()) / "logtest";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto file = (dir / "hf3fs.log").string();
  ASSERT_TRUE(Init({.level = "info", .file = file}).ok());
  HF3FS_LOG_INFO("test.event answer={}", 42);
  HF3FS_LOG_DEBUG("test.hidden x=1");
  ASSERT_TRUE(SetLevel("debug").ok());
  EXPECT_EQ(GetLevel(), "debug");
  HF3FS_LOG_DEBUG("test.visible x=2");
  Flush();
  auto text = ReadAll(file);
  EXPECT_NE(text.find("level=info"), std::string::npos) << text;
  EXPECT_NE(text.find("test.event answer=42"), std::string::npos);
  EXPECT_NE(text.find("src=logging_test.cc:"), std::string::npos);
  EXPECT_EQ(text.find("test.hidden"), std::string::npos);
  EXPECT_NE(text.find("test.visible x=2"), std::string::npos);
  EXPECT_EQ(SetLevel("loud").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(Init({}).ok());
}

TEST(Logging, RotatesFilesBySize) {
  auto dir = std::filesystem::path(testing::TempDir()) / "logrot";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto file = (dir / "r.log").string();
  ASSERT_TRUE(Init({.level = "info", .file = file, .max_file_bytes = 4096, .max_files = 2}).ok());
  for (int i = 0; i < 500; ++i) HF3FS_LOG_INFO("test.fill i={} pad={}", i, std::string(40, 'p'));
  Flush();
  EXPECT_TRUE(std::filesystem::exists(dir / "r.1.log"));
  EXPECT_TRUE(std::filesystem::exists(dir / "r.2.log"));
  EXPECT_FALSE(std::filesystem::exists(dir / "r.3.log"));
  EXPECT_LE(std::filesystem::file_size(file), 4096u + 200);
  ASSERT_TRUE(Init({}).ok());
}

TEST(Logging, UnwritableFileIsAnError) {
  EXPECT_EQ(Init({.file = "/proc/definitely/not/here.log"}).code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace hf3fs::logging
