// SlabPool: fixed-size blocks carved from 64 KiB chunks, with a free list.
// Every idle connection keeps one asio operation alive, its pending read
// wait; from asio's default recycling allocator that operation takes a
// malloc'd block as large as the largest operation freed before it (an
// accept's, over 250 bytes). From a slab it takes exactly one small block
// and no malloc header. Blocks are reused, never returned to the system.
//
// Thread-safety: none; one pool per worker, used on its thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace herald::net {

class SlabPool {
 public:
  explicit SlabPool(size_t block_size)
      : block_((block_size + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1)) {}
  SlabPool(const SlabPool&) = delete;
  SlabPool& operator=(const SlabPool&) = delete;

  // Requests larger than a block fall back to operator new.
  void* allocate(size_t bytes) {
    if (bytes > block_) return ::operator new(bytes);
    if (!free_) refill();
    Free* f = free_;
    free_ = f->next;
    return f;
  }
  void deallocate(void* p, size_t bytes) {
    if (bytes > block_) {
      ::operator delete(p);
      return;
    }
    free_ = new (p) Free{free_};
  }

 private:
  struct Free {
    Free* next;
  };
  static constexpr size_t kChunkBytes = 64 * 1024;

  void refill() {
    chunks_.push_back(std::make_unique<char[]>(kChunkBytes));
    char* base = chunks_.back().get();
    for (size_t off = 0; off + block_ <= kChunkBytes; off += block_) {
      free_ = new (base + off) Free{free_};
    }
  }

  const size_t block_;
  Free* free_ = nullptr;
  std::vector<std::unique_ptr<char[]>> chunks_;
};

// A standard allocator over a SlabPool, for asio::bind_allocator.
template <typename T>
class SlabAllocator {
 public:
  using value_type = T;

  explicit SlabAllocator(SlabPool& pool) : pool_(&pool) {}
  template <typename U>
  SlabAllocator(const SlabAllocator<U>& other) : pool_(other.pool()) {}

  T* allocate(size_t n) { return static_cast<T*>(pool_->allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { pool_->deallocate(p, n * sizeof(T)); }

  SlabPool* pool() const { return pool_; }
  template <typename U>
  bool operator==(const SlabAllocator<U>& o) const { return pool_ == o.pool(); }

 private:
  SlabPool* pool_;
};

}  // namespace herald::net
