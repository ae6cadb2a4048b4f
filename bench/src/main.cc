// herald-bench: the load generator for Herald and the servers it is compared
// with. main() parses a subcommand's flags into a LoadConfig and hands it to
// runLoad(); `sink` runs the trivial broadcast server used for calibration.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "flags.h"
#include "load.h"
#include "report.h"
#include "sink.h"

using namespace herald::bench;

namespace {

constexpr uint32_t kConnectionsPerProcess = 15000;
constexpr uint32_t kConnectionsPerSourceAddress = 20000;

void usage() {
  printf(
      "usage: herald-bench <scenario> [flags]   (herald-bench <scenario> --help for its flags)\n\n"
      "Scenarios:\n"
      "  fanout    C channels x S subscribers; publishers at --rate or as fast as --window allows;\n"
      "            deliveries/s, end-to-end latency, and a check that every subscriber got every event in order\n"
      "  chat      R rooms x U users; every user publishes at --rate over its own connection, the room receives\n"
      "  connect   connects/s and connect latency (TCP + upgrade + connect + subscribe), optional HS256 JWT\n"
      "  idle      N idle connections held; with --server-pid, server RSS per connection and CPU\n"
      "  sink      a trivial C++ WebSocket broadcast server, to measure herald-bench's own ceiling\n\n"
      "Protocols (--proto): herald (native), socketio (Engine.IO v4 over WebSocket), centrifugo (JSON\n"
      "protocol), plainws (text frames in, the server broadcasts them to every client on the same path),\n"
      "herald-sse (Herald's Server-Sent Events stream; receive only: fanout publishes through the HTTP API).\n");
}

void addCommon(Flags& f) {
  f.section("Server");
  f.add("url", "ws://127.0.0.1:8000", "WebSocket URL of the server; without a path, the protocol's default path (/connection/websocket, /socket.io/, /)");
  f.add("proto", "herald", "herald | socketio | centrifugo | plainws | herald-sse (subscribers over SSE)");
  f.add("channel-prefix", "bench", "channel (or room) names are this prefix followed by a number");
  f.add("token-secret", "", "sign an HS256 JWT per client with this secret (Herald --hmac-secret, Centrifugo client.token.hmac_secret_key, the peers' --secret)");
  f.add("server-pid", "0", "the server's process id: report its CPU% and RSS from /proc");
  f.section("Load generator");
  f.add("threads", "1", "threads per process, each with its own io_context and its share of the clients");
  f.add("procs", "0", "worker processes (0 = one per 15,000 connections; the open-file limit is per process)");
  f.add("source-addrs", "0", "spread client source addresses over 127.0.0.1 .. 127.0.0.N (0 = one per 20,000 connections)");
  f.add("connect-concurrency", "256", "connection attempts in flight at once, over all threads");
  f.add("connect-timeout", "10", "seconds for one client to connect, upgrade and subscribe before it counts as failed");
  f.section("Output");
  f.add("json", "", "write every figure to this JSON file");
  f.add("svg", "", "write the latency-percentile plot (log-scaled percentile axis) to this SVG file");
  f.addSwitch("quiet", "no progress line");
  f.addSwitch("check", "exit with status 1 unless every client connected and every subscriber received every event, in order");
}

bool fillCommon(const Flags& f, LoadConfig* c) {
  if (!parseProto(f.str("proto"), &c->proto)) {
    fprintf(stderr, "herald-bench: unknown --proto '%s' (herald, socketio, centrifugo, plainws, herald-sse)\n",
            f.str("proto").c_str());
    return false;
  }
  std::string error;
  if (!parseUrl(f.str("url"), &c->url, &error) || c->url.scheme != "ws") {
    fprintf(stderr, "herald-bench: --url: %s\n", error.empty() ? "needs ws://" : error.c_str());
    return false;
  }
  c->channel_prefix = f.str("channel-prefix");
  for (char ch : c->channel_prefix) {
    if (!isalnum(static_cast<unsigned char>(ch)) && !strchr(":_-.", ch)) {
      fprintf(stderr, "herald-bench: --channel-prefix may hold letters, digits and : _ - . only\n");
      return false;
    }
  }
  c->token_secret = f.str("token-secret");
  c->server_pid = pid_t(f.integer("server-pid"));
  c->threads = uint32_t(std::max<int64_t>(1, f.integer("threads")));
  c->procs = uint32_t(std::max<int64_t>(0, f.integer("procs")));
  c->source_addrs = uint32_t(std::max<int64_t>(0, f.integer("source-addrs")));
  c->connect_concurrency = uint32_t(std::max<int64_t>(1, f.integer("connect-concurrency")));
  c->connect_timeout_s = f.number("connect-timeout");
  c->quiet = f.on("quiet");
  return true;
}

// Fills the automatic process and source-address counts for `connections`.
void sizeFor(LoadConfig* c, uint64_t connections) {
  if (c->procs == 0) c->procs = uint32_t(std::max<uint64_t>(1, (connections + kConnectionsPerProcess - 1) / kConnectionsPerProcess));
  if (c->source_addrs == 0)
    c->source_addrs = uint32_t(std::max<uint64_t>(1, (connections + kConnectionsPerSourceAddress - 1) / kConnectionsPerSourceAddress));
  c->source_addrs = std::min<uint32_t>(c->source_addrs, 254);
}

std::string num(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

int finish(const Flags& f, const LoadConfig& c) {
  Histogram latency;
  Result r = runLoad(c, &latency);
  printTable(r);
  if (!f.str("json").empty() && writeJson(r, f.str("json"))) fprintf(stderr, "wrote %s\n", f.str("json").c_str());
  if (!f.str("svg").empty() && writeSvg(r, latency, f.str("svg"))) fprintf(stderr, "wrote %s\n", f.str("svg").c_str());
  if (f.on("check") && !r.ok()) {
    fprintf(stderr, "herald-bench: check failed: %llu missing, %llu out of order, %llu failed, %llu dropped, %llu publish errors%s\n",
            (unsigned long long)r.missing, (unsigned long long)r.out_of_order, (unsigned long long)r.failed,
            (unsigned long long)r.dropped, (unsigned long long)r.publish_errors, r.stalled ? ", stalled" : "");
    return 1;
  }
  if (f.on("check") && r.scenario == "fanout" && r.total_deliveries == 0) {
    fprintf(stderr, "herald-bench: check failed: nothing was delivered\n");
    return 1;
  }
  return 0;
}

int fanout(int argc, char** argv) {
  Flags f("fanout", "[flags]",
          "C channels x S subscribers each. Publishers publish round-robin over the channels, either at a fixed\n"
          "--rate (latency under a known load; send times are the scheduled ones, so queueing counts) or as fast\n"
          "as --window allows (an event is in flight until every subscriber of its channel has it: a sustainable\n"
          "throughput, not a queue filling up). Reports deliveries/s, end-to-end latency (the send time travels in\n"
          "the payload) and checks that every subscriber received every event in order.");
  f.section("Load");
  f.add("channels", "1", "channels");
  f.add("subscribers", "1000", "subscribers per channel");
  f.add("payload", "100", "bytes of the JSON payload of each event");
  f.add("publishers", "0", "publisher connections (0 = auto: HTTP has one request in flight per connection, so as many as "
        "--window allows (8 to 256; 8 with --rate); 1 for WebSocket; plainws uses one per channel)");
  f.add("publish-via", "auto", "http (POST /api/publish; herald, centrifugo) | ws (publish over WebSocket) | auto (http when --api-key is given)");
  f.add("api-key", "", "X-API-Key for the HTTP API");
  f.add("api-url", "", "publish endpoint [default: http://<url host:port>/api/publish]");
  f.add("rate", "0", "events per second over all channels (0 = as fast as --window allows)");
  f.add("window", "64", "events in flight (not yet received by every subscriber) when --rate is 0");
  f.section("Duration");
  f.add("events", "0", "stop after this many events (0 = run for --duration)");
  f.add("duration", "10", "seconds of measured publishing (after the warmup)");
  f.add("warmup", "1", "seconds of publishing before measuring starts (0 when --events is given)");
  f.add("drain", "5", "seconds to wait for deliveries still in flight at the end");
  f.add("stall-timeout", "5", "with --window: seconds without a completed event before the run is declared stalled");
  addCommon(f);
  if (!f.parse(argc, argv, 2)) return 2;
  if (f.helpRequested()) return f.printHelp(), 0;

  LoadConfig c;
  c.scenario = Scenario::kFanout;
  if (!fillCommon(f, &c)) return 2;
  c.groups = uint32_t(std::max<int64_t>(1, f.integer("channels")));
  const uint32_t per_channel = uint32_t(std::max<int64_t>(1, f.integer("subscribers")));
  c.clients = c.groups * per_channel;
  c.payload = size_t(std::max<int64_t>(0, f.integer("payload")));
  c.api_key = f.str("api-key");
  const std::string via = f.str("publish-via");
  if (via == "http") c.publish_http = true;
  else if (via == "ws") c.publish_http = false;
  else if (via == "auto") c.publish_http = !c.api_key.empty() && hasHttpPublish(c.proto);
  else {
    fprintf(stderr, "herald-bench: --publish-via is http, ws or auto\n");
    return 2;
  }
  if (!c.publish_http && c.proto == Proto::kHeraldSse) {
    fprintf(stderr, "herald-bench: herald-sse subscribers cannot publish; use --publish-via http with --api-key\n");
    return 2;
  }
  if (c.publish_http && !hasHttpPublish(c.proto)) {
    fprintf(stderr, "herald-bench: %s has no HTTP publish API; use --publish-via ws\n", protoName(c.proto));
    return 2;
  }
  std::string api = f.str("api-url");
  if (api.empty()) api = "http://" + c.url.hostHeader() + "/api/publish";
  std::string error;
  if (!parseUrl(api, &c.api_url, &error)) {
    fprintf(stderr, "herald-bench: --api-url: %s\n", error.c_str());
    return 2;
  }
  if (c.api_url.path.empty()) c.api_url.path = "/api/publish";
  c.publishers = uint32_t(f.integer("publishers"));
  c.rate = f.number("rate");
  c.window = uint32_t(std::max<int64_t>(1, f.integer("window")));
  if (c.publishers == 0) {
    // An HTTP connection carries one publish at a time: with fewer
    // connections than the window, the window could never fill.
    c.publishers = !c.publish_http ? 1 : c.rate > 0 ? 8 : std::clamp(c.window, 8u, 256u);
  }
  c.max_events = uint64_t(std::max<int64_t>(0, f.integer("events")));
  c.duration_s = f.number("duration");
  c.warmup_s = f.given("warmup") || c.max_events == 0 ? f.number("warmup") : 0;
  c.drain_s = f.number("drain");
  c.stall_s = f.number("stall-timeout");
  sizeFor(&c, c.clients + c.publishers);
  c.settings = {{"channels", std::to_string(c.groups)},
                {"subscribers", std::to_string(per_channel)},
                {"payload", std::to_string(c.payload)},
                {"publish_via", c.publish_http ? "http" : "ws"},
                {"publishers", std::to_string(c.publishers)},
                {"rate", num(c.rate)},
                {"window", c.rate > 0 ? "-" : std::to_string(c.window)},
                {"events", std::to_string(c.max_events)},
                {"duration", num(c.max_events ? 0 : c.duration_s)},
                {"warmup", num(c.warmup_s)},
                {"threads", std::to_string(c.threads)},
                {"procs", std::to_string(c.procs)}};
  return finish(f, c);
}

int chat(int argc, char** argv) {
  Flags f("chat", "[flags]",
          "R rooms x U users. Every user subscribes to its room and publishes --rate messages per second over its\n"
          "own connection; everyone in the room, the sender included, receives each message. Reports messages/s,\n"
          "deliveries/s and delivery latency (from the scheduled send time), and checks order per sender.");
  f.section("Load");
  f.add("rooms", "10", "rooms (channels)");
  f.add("users", "100", "users per room, each with its own connection");
  f.add("rate", "1", "messages per second each user sends");
  f.add("payload", "100", "bytes of the JSON payload of each message");
  f.section("Duration");
  f.add("duration", "10", "seconds of measured chatting (after the warmup)");
  f.add("warmup", "1", "seconds of chatting before measuring starts");
  f.add("drain", "5", "seconds to wait for deliveries still in flight at the end");
  addCommon(f);
  if (!f.parse(argc, argv, 2)) return 2;
  if (f.helpRequested()) return f.printHelp(), 0;
  LoadConfig c;
  c.scenario = Scenario::kChat;
  if (!fillCommon(f, &c)) return 2;
  if (c.proto == Proto::kHeraldSse) {
    fprintf(stderr, "herald-bench: chat users publish over their own connection; SSE is receive only\n");
    return 2;
  }
  c.groups = uint32_t(std::max<int64_t>(1, f.integer("rooms")));
  c.room_size = uint32_t(std::max<int64_t>(1, f.integer("users")));
  c.clients = c.groups * c.room_size;
  c.rate = f.number("rate");
  c.payload = size_t(std::max<int64_t>(0, f.integer("payload")));
  c.duration_s = f.number("duration");
  c.warmup_s = f.number("warmup");
  c.drain_s = f.number("drain");
  sizeFor(&c, c.clients);
  c.settings = {{"rooms", std::to_string(c.groups)},   {"users", std::to_string(c.room_size)},
                {"rate", num(c.rate)},                  {"payload", std::to_string(c.payload)},
                {"duration", num(c.duration_s)},        {"warmup", num(c.warmup_s)},
                {"threads", std::to_string(c.threads)}, {"procs", std::to_string(c.procs)}};
  return finish(f, c);
}

int connect(int argc, char** argv) {
  Flags f("connect", "[flags]",
          "Opens --connections clients as fast as --connect-concurrency (or --rate) allows: TCP connect, WebSocket\n"
          "upgrade, the protocol's connect (with an HS256 JWT per client when --token-secret is given) and a\n"
          "subscribe. Reports connects/s and the connect latency from the TCP connect to the subscribe reply.");
  f.section("Load");
  f.add("connections", "10000", "clients to connect");
  f.add("rate", "0", "connects per second to attempt (0 = as fast as --connect-concurrency allows)");
  f.add("channels", "1", "clients subscribe round-robin to this many channels");
  f.add("subscribe", "true", "subscribe after connecting (false: connect only)");
  f.add("hold", "0", "seconds to hold the connections open after the last one connected");
  f.addSwitch("churn", "close each client as soon as it is ready (connects/s with few open connections)");
  addCommon(f);
  if (!f.parse(argc, argv, 2)) return 2;
  if (f.helpRequested()) return f.printHelp(), 0;
  LoadConfig c;
  c.scenario = Scenario::kConnect;
  if (!fillCommon(f, &c)) return 2;
  c.clients = uint32_t(std::max<int64_t>(1, f.integer("connections")));
  c.groups = uint32_t(std::max<int64_t>(1, f.integer("channels")));
  c.rate = f.number("rate");
  c.subscribe = f.on("subscribe");
  c.hold_s = f.number("hold");
  c.close_when_ready = f.on("churn");
  c.warmup_s = 0;
  sizeFor(&c, c.close_when_ready ? std::min<uint64_t>(c.clients, c.connect_concurrency) : c.clients);
  if (c.close_when_ready && !f.given("source-addrs")) c.source_addrs = std::max<uint32_t>(c.source_addrs, 1 + c.clients / 20000);
  c.settings = {{"connections", std::to_string(c.clients)},
                {"rate", num(c.rate)},
                {"concurrency", std::to_string(c.connect_concurrency)},
                {"subscribe", c.subscribe ? "true" : "false"},
                {"token", c.token_secret.empty() ? "none" : "HS256"},
                {"churn", c.close_when_ready ? "true" : "false"},
                {"threads", std::to_string(c.threads)},
                {"procs", std::to_string(c.procs)}};
  return finish(f, c);
}

int idle(int argc, char** argv) {
  Flags f("idle", "[flags]",
          "Opens --connections clients (connected and subscribed), waits --settle seconds, then holds them idle\n"
          "for --hold seconds while only heartbeats flow. With --server-pid: the server's RSS growth per\n"
          "connection (RSS after connecting minus RSS before, over the connections) and its CPU during the hold.");
  f.section("Load");
  f.add("connections", "10000", "clients to hold");
  f.add("channels", "1", "clients subscribe round-robin to this many channels");
  f.add("subscribe", "true", "subscribe after connecting (false: connect only)");
  f.add("settle", "2", "seconds between the last connect and the RSS sample");
  f.add("hold", "30", "seconds to hold the connections idle (CPU is measured over this window)");
  addCommon(f);
  if (!f.parse(argc, argv, 2)) return 2;
  if (f.helpRequested()) return f.printHelp(), 0;
  LoadConfig c;
  c.scenario = Scenario::kIdle;
  if (!fillCommon(f, &c)) return 2;
  c.clients = uint32_t(std::max<int64_t>(1, f.integer("connections")));
  c.groups = uint32_t(std::max<int64_t>(1, f.integer("channels")));
  c.subscribe = f.on("subscribe");
  c.settle_s = f.number("settle");
  c.hold_s = f.number("hold");
  c.warmup_s = 0;
  sizeFor(&c, c.clients);
  c.settings = {{"connections", std::to_string(c.clients)},
                {"channels", std::to_string(c.groups)},
                {"subscribe", c.subscribe ? "true" : "false"},
                {"hold", num(c.hold_s)},
                {"threads", std::to_string(c.threads)},
                {"procs", std::to_string(c.procs)}};
  return finish(f, c);
}

int sink(int argc, char** argv) {
  Flags f("sink", "[flags]",
          "A trivial WebSocket broadcast server in C++ (the plainws protocol: every text frame a client sends goes\n"
          "to every client connected on the same path, the sender included). One thread, encode once, one write\n"
          "per client per loop turn. Pin it to its own core and run a scenario with --proto plainws against it to\n"
          "measure herald-bench's own ceiling.");
  f.add("port", "8090", "TCP port");
  f.add("address", "127.0.0.1", "address to listen on");
  if (!f.parse(argc, argv, 2)) return 2;
  if (f.helpRequested()) return f.printHelp(), 0;
  return runSink(f.str("address"), uint16_t(f.integer("port")));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "fanout") return fanout(argc, argv);
  if (cmd == "chat") return chat(argc, argv);
  if (cmd == "connect") return connect(argc, argv);
  if (cmd == "idle") return idle(argc, argv);
  if (cmd == "sink") return sink(argc, argv);
  if (cmd == "version" || cmd == "--version") {
#ifdef HERALD_VERSION
    printf("herald-bench %s\n", HERALD_VERSION);
#else
    printf("herald-bench\n");
#endif
    return 0;
  }
  fprintf(stderr, "herald-bench: unknown scenario '%s'\n\n", cmd.c_str());
  usage();
  return 2;
}
