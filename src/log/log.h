// Logging: human-readable lines by default, JSON lines with format "json".
// Each line carries the worker and, where there is one, the connection id.
// Thread-safe (spdlog's synchronous logger on stderr); set up once by init().
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

namespace herald::log {

// Throws std::invalid_argument for an unknown level or format.
void init(const std::string& level, const std::string& format);

// Which worker this thread is (for the "worker" field); -1 = none.
void setWorker(int worker);

namespace detail {
// constinit: accessed directly, without the TLS wrapper call that UBSan
// (GCC 12) flags as a store through a null pointer.
extern constinit thread_local uint64_t current_connection;
struct ConnectionScope {
  explicit ConnectionScope(uint64_t id) : saved(current_connection) { current_connection = id; }
  ~ConnectionScope() { current_connection = saved; }
  uint64_t saved;
};
}  // namespace detail

// Logs about one connection: log::conn(spdlog::level::info, id, "closed {}", code).
template <typename... Args>
void conn(spdlog::level::level_enum level, uint64_t connection_id,
          spdlog::format_string_t<Args...> fmt, Args&&... args) {
  if (!spdlog::should_log(level)) return;
  detail::ConnectionScope scope(connection_id);
  spdlog::log(level, fmt, std::forward<Args>(args)...);
}

}  // namespace herald::log
