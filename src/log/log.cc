#include "log/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <chrono>
#include <stdexcept>

namespace herald::log {

namespace detail {
constinit thread_local uint64_t current_connection = 0;
}  // namespace detail

namespace {

thread_local int current_worker = -1;

void appendEscaped(spdlog::memory_buf_t& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (c < 0x20) {
          char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
          out.append(esc, esc + 6);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

// {"time":"2026-01-02T03:04:05.678Z","level":"info","worker":0,"conn":42,"msg":"..."}
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"time":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z","level":"{}")",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ms % 1000, spdlog::level::to_string_view(msg.level));
    if (current_worker >= 0) fmt::format_to(std::back_inserter(dest), R"(,"worker":{})", current_worker);
    if (detail::current_connection) {
      fmt::format_to(std::back_inserter(dest), R"(,"conn":{})", detail::current_connection);
    }
    dest.append(std::string_view(R"(,"msg":")"));
    appendEscaped(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("\"}\n"));
  }
  std::unique_ptr<formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// "[w0 c42] " before the message in text lines.
class ContextFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    if (current_worker < 0 && !detail::current_connection) return;
    dest.push_back('[');
    if (current_worker >= 0) fmt::format_to(std::back_inserter(dest), "w{}", current_worker);
    if (detail::current_connection) {
      fmt::format_to(std::back_inserter(dest), "{}c{}", current_worker >= 0 ? " " : "",
                     detail::current_connection);
    }
    dest.append(std::string_view("] "));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ContextFlag>();
  }
};

}  // namespace

void setWorker(int worker) { current_worker = worker; }

void init(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    throw std::invalid_argument("log level must be debug, info, warn or error: " + level);
  }
  auto logger = std::make_shared<spdlog::logger>("herald", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else if (format == "text") {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<ContextFlag>('*').set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %*%v");
    logger->set_formatter(std::move(f));
  } else {
    throw std::invalid_argument("log format must be text or json: " + format);
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace herald::log
