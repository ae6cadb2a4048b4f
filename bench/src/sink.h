// `herald-bench sink`: a trivial WebSocket broadcast server used to measure
// herald-bench's own ceiling. Runs one io_context on the calling thread
// until killed. Not reentrant.
#pragma once

#include <cstdint>
#include <string>

namespace herald::bench {

int runSink(const std::string& address, uint16_t port);

}  // namespace herald::bench
