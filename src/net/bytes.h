// Bytes: an immutable, reference-counted byte buffer owned by one worker.
// A prepared frame is built once and every subscriber's out-queue holds a
// Bytes handle to it, never a copy. The count is not atomic: a Bytes must
// never cross threads (each worker prepares its own frames).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace herald::net {

class Bytes {
 public:
  Bytes() = default;
  Bytes(const Bytes& o) : block_(o.block_) { if (block_) ++block_->refs; }
  Bytes(Bytes&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  Bytes& operator=(Bytes o) noexcept { std::swap(block_, o.block_); return *this; }
  ~Bytes() { release(); }

  // A buffer of `size` uninitialized bytes; fill it through data() before
  // sharing it.
  static Bytes allocate(size_t size) {
    void* mem = std::malloc(sizeof(Block) + size);
    if (!mem) throw std::bad_alloc();
    Bytes b;
    b.block_ = new (mem) Block{1, static_cast<uint32_t>(size)};
    return b;
  }
  static Bytes copyOf(std::string_view s) {
    Bytes b = allocate(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
  }

  char* data() { return reinterpret_cast<char*>(block_ + 1); }
  const char* data() const { return reinterpret_cast<const char*>(block_ + 1); }
  size_t size() const { return block_ ? block_->size : 0; }
  std::string_view view() const { return {data(), size()}; }
  explicit operator bool() const { return block_ != nullptr; }
  // Shrinks the visible size (never grows); for buffers allocated generously.
  void truncate(size_t size) { if (block_ && size < block_->size) block_->size = static_cast<uint32_t>(size); }

 private:
  struct Block {
    uint32_t refs;
    uint32_t size;
  };
  void release() {
    if (block_ && --block_->refs == 0) std::free(block_);
    block_ = nullptr;
  }
  Block* block_ = nullptr;
};

}  // namespace herald::net
