// Tiny CSV reader for the files gen-placement writes and the upload commands take: one record per
// line, comma-separated unsigned integers; lines starting with '#' and a header line of
// non-numbers are skipped.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"

namespace hf3fs::admin {

inline Result<std::vector<std::vector<uint64_t>>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeStatus(StatusCode::kIoError, "cannot read {}", path);
  std::vector<std::vector<uint64_t>> rows;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    if (!std::isdigit(static_cast<unsigned char>(line[0]))) {
      if (rows.empty()) continue;  // header
      return MakeStatus(StatusCode::kInvalidArgument, "{}:{}: expected numbers", path, lineno);
    }
    std::vector<uint64_t> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) {
      try {
        row.push_back(std::stoull(cell));
      } catch (const std::exception&) {
        return MakeStatus(StatusCode::kInvalidArgument, "{}:{}: '{}' is not a number", path,
                          lineno, cell);
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace hf3fs::admin
