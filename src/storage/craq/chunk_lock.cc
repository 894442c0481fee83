#include "storage/craq/chunk_lock.h"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hf3fs::storage {

namespace asio = boost::asio;

template <typename Handler>
struct ChunkLocks::HandlerWaiter : ChunkLocks::Waiter {
  explicit HandlerWaiter(Handler h) : handler(std::move(h)) {}
  void Wake() override {
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, std::move(handler));
  }
  Handler handler;
};

ChunkLocks::Guard& ChunkLocks::Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = o.owner_;
    key_ = std::move(o.key_);
    o.owner_ = nullptr;
  }
  return *this;
}

void ChunkLocks::Guard::Release() {
  if (owner_) {
    owner_->Unlock(key_);
    owner_ = nullptr;
  }
}

std::string ChunkLocks::Key(TargetId target, const std::string& chunk_id) {
  std::string key(8, '\0');
  uint64_t v = target.value();
  for (int i = 7; i >= 0; --i, v >>= 8) key[i] = static_cast<char>(v & 0xff);
  key += chunk_id;
  return key;
}

asio::awaitable<ChunkLocks::Guard> ChunkLocks::Lock(TargetId target, const std::string& chunk_id) {
  std::string key = Key(target, chunk_id);
  {
    std::lock_guard lock(mu_);
    auto [it, inserted] = locked_.try_emplace(key);
    if (inserted) co_return Guard(this, std::move(key));
  }
  // Held: queue a waiter. Unlock hands the lock straight to the first waiter (the entry stays),
  // so a woken waiter owns the lock without checking again. The check above and the enqueue
  // below run under separate lock scopes, so check again inside the initiation.
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [this, &key](auto handler) {
        std::unique_lock lock(mu_);
        auto [it, inserted] = locked_.try_emplace(key);
        if (inserted) {
          lock.unlock();
          HandlerWaiter<decltype(handler)>(std::move(handler)).Wake();
          return;
        }
        it->second.waiters.push_back(
            std::make_unique<HandlerWaiter<decltype(handler)>>(std::move(handler)));
      },
      asio::use_awaitable);
  co_return Guard(this, std::move(key));
}

void ChunkLocks::Unlock(const std::string& key) {
  std::unique_ptr<Waiter> next;
  {
    std::lock_guard lock(mu_);
    auto it = locked_.find(key);
    if (it == locked_.end()) return;
    if (it->second.waiters.empty()) {
      locked_.erase(it);
      return;
    }
    next = std::move(it->second.waiters.front());
    it->second.waiters.pop_front();
  }
  next->Wake();
}

size_t ChunkLocks::locked() const {
  std::lock_guard lock(mu_);
  return locked_.size();
}

}  // namespace hf3fs::storage
