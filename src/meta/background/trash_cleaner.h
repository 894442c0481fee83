// The trash cleaner: removes trash entries whose expiry has passed, exactly like a remove of the
// entry in the trash directory (files lose a link, directories go to the GC queue whole).
#pragma once

#include "meta/ops/ops.h"

namespace hf3fs::meta {

// Handles up to `limit` expired entries, each in its own transaction; returns how many.
Result<uint32_t> CleanTrash(OpContext& ctx, uint32_t limit = 128);

}  // namespace hf3fs::meta
