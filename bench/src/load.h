// The engine behind every scenario: a population of clients spread over
// shards (one asio::io_context per thread; above --procs 1, per forked
// process), a publisher for `fanout`, and a coordinator on shard 0 that
// moves all shards through the phases in board.h, prints the progress line
// and gathers the result.
//
// Thread-safety: runLoad() is called once per process run; everything it
// starts is joined before it returns.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "histogram.h"
#include "protocol.h"
#include "report.h"
#include "url.h"

namespace herald::bench {

enum class Scenario { kFanout, kChat, kConnect, kIdle };
const char* scenarioName(Scenario s);

struct LoadConfig {
  Scenario scenario = Scenario::kFanout;
  Proto proto = Proto::kHerald;
  Url url;                      // the WebSocket endpoint; an empty path gets the protocol's
  Url api_url;                  // POST target when publish_http
  std::string api_key;
  bool publish_http = false;

  uint32_t clients = 0;         // the whole population (subscribers, users, connections)
  uint32_t groups = 1;          // channels (fanout, connect, idle) or rooms (chat)
  uint32_t room_size = 0;       // chat: users per room
  bool subscribe = true;        // connect, idle: subscribe after connecting
  std::string channel_prefix = "bench";

  uint32_t publishers = 1;      // fanout: publisher connections
  double rate = 0;              // fanout: events/s (0: window); chat: messages/s per user; connect: connects/s (0: unpaced)
  uint32_t window = 64;         // fanout: events in flight until every subscriber has them
  uint64_t max_events = 0;      // fanout: stop after this many (0: run for duration_s)
  size_t payload = 100;         // bytes of the JSON payload

  double duration_s = 10, warmup_s = 1, drain_s = 5, hold_s = 0, settle_s = 2;
  double connect_timeout_s = 10, stall_s = 5;
  uint32_t connect_concurrency = 256;
  bool close_when_ready = false;  // connect --churn

  std::string token_secret;     // sign an HS256 JWT per client
  uint32_t threads = 1, procs = 1, source_addrs = 1;
  pid_t server_pid = 0;
  bool quiet = false;
  std::vector<std::pair<std::string, std::string>> settings;  // echoed in the report
};

// Runs one scenario to the end. `latency` receives the merged delivery
// latency histogram (for --svg).
Result runLoad(const LoadConfig& config, Histogram* latency);

}  // namespace herald::bench
