#include "board.h"

#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace herald::bench {
namespace {

size_t alignUp(size_t n) { return (n + 63) & ~size_t(63); }

}  // namespace

void ShardStats::noteError(const char* text) {
  if (has_error.load(std::memory_order_relaxed)) return;
  snprintf(first_error, sizeof first_error, "%s", text);
  has_error.store(1, std::memory_order_release);
}

Board* Board::create(size_t shards, size_t channels, size_t slots) {
  const size_t off_control = 0;
  const size_t off_shards = alignUp(off_control + sizeof(Control));
  const size_t off_published = alignUp(off_shards + shards * sizeof(ShardStats));
  const size_t off_refused = alignUp(off_published + channels * sizeof(std::atomic<uint64_t>));
  const size_t off_subscribers = alignUp(off_refused + channels * sizeof(std::atomic<uint64_t>));
  const size_t off_slots = alignUp(off_subscribers + channels * sizeof(std::atomic<uint32_t>));
  const size_t total = alignUp(off_slots + slots * sizeof(std::atomic<uint32_t>));
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    perror("herald-bench: mmap");
    exit(1);
  }
  auto* base = static_cast<char*>(mem);
  auto* board = new Board;
  board->control_ = new (base + off_control) Control();
  board->shards_ = reinterpret_cast<ShardStats*>(base + off_shards);
  for (size_t i = 0; i < shards; ++i) new (&board->shards_[i]) ShardStats();
  board->published_ = reinterpret_cast<std::atomic<uint64_t>*>(base + off_published);
  board->refused_ = reinterpret_cast<std::atomic<uint64_t>*>(base + off_refused);
  board->subscribers_ = reinterpret_cast<std::atomic<uint32_t>*>(base + off_subscribers);
  board->slots_ = reinterpret_cast<std::atomic<uint32_t>*>(base + off_slots);
  for (size_t i = 0; i < channels; ++i) {
    new (&board->published_[i]) std::atomic<uint64_t>(0);
    new (&board->refused_[i]) std::atomic<uint64_t>(0);
    new (&board->subscribers_[i]) std::atomic<uint32_t>(0);
  }
  for (size_t i = 0; i < slots; ++i) new (&board->slots_[i]) std::atomic<uint32_t>(0);
  board->shard_count_ = shards;
  board->channel_count_ = channels;
  board->slot_count_ = slots;
  board->control_->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return board;
}

}  // namespace herald::bench
