#include "protocol/command_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herald::protocol {
namespace {

class CommandParserTest : public ::testing::Test {
 protected:
  ParsedCommand parse(std::string_view json) { return parser_.parse(json, &cmd_); }

  // Parses and expects the given error; returns the result for more checks.
  ParsedCommand expectError(std::string_view json, CommandError error) {
    ParsedCommand r = parse(json);
    EXPECT_EQ(r.error, error) << json << " -> " << r.what;
    EXPECT_FALSE(r.what.empty()) << json;
    return r;
  }

  void expectOk(std::string_view json) {
    ParsedCommand r = parse(json);
    ASSERT_EQ(r.error, CommandError::kNone) << json << " -> " << r.what;
  }

  CommandParser parser_;
  Command cmd_;
};

// --- The example commands of DESIGN.md, "Native protocol v1" ---------------

TEST_F(CommandParserTest, DesignConnect) {
  expectOk(R"({"id":1,"connect":{"token":"<JWT>"}})");
  EXPECT_EQ(cmd_.id, 1u);
  EXPECT_EQ(cmd_.method, Method::kConnect);
  EXPECT_EQ(cmd_.token, "<JWT>");
}

TEST_F(CommandParserTest, DesignSubscribeWithSince) {
  expectOk(R"({"id":2,"subscribe":{"channel":"chat:lobby","since":{"offset":41,"epoch":"e1"}}})");
  EXPECT_EQ(cmd_.id, 2u);
  EXPECT_EQ(cmd_.method, Method::kSubscribe);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
  EXPECT_TRUE(cmd_.since.present);
  EXPECT_EQ(cmd_.since.offset, 41u);
  EXPECT_EQ(cmd_.since.epoch, "e1");
  EXPECT_TRUE(cmd_.token.empty());
}

TEST_F(CommandParserTest, DesignPublish) {
  const ParsedCommand r = parse(
      R"({"id":3,"publish":{"channel":"chat:lobby","eventType":"message.sent","version":1,)"
      R"("payload":{"text":"hi"},"idempotencyKey":"k-17"}})");
  ASSERT_EQ(r.error, CommandError::kNone) << r.what;
  EXPECT_EQ(r.id, 3u);
  EXPECT_EQ(cmd_.id, 3u);
  EXPECT_EQ(cmd_.method, Method::kPublish);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
  EXPECT_EQ(cmd_.event_type, "message.sent");
  EXPECT_EQ(cmd_.version, 1);
  EXPECT_TRUE(cmd_.has_payload);
  EXPECT_EQ(cmd_.payload, R"({"text":"hi"})");
  EXPECT_EQ(cmd_.idempotency_key, "k-17");
}

TEST_F(CommandParserTest, DesignPublishAsPrintedOverTwoLinesIsTwoBrokenLines) {
  // DESIGN.md wraps the publish example for reading; on the wire '\n'
  // separates commands, so each half is invalid JSON on its own.
  const std::string frame =
      "{\"id\":3,\"publish\":{\"channel\":\"chat:lobby\",\"eventType\":\"message.sent\","
      "\"version\":1,\n     \"payload\":{\"text\":\"hi\"},\"idempotencyKey\":\"k-17\"}}";
  std::vector<CommandError> errors;
  CommandParser::split(frame, [&](std::string_view line) {
    errors.push_back(parser_.parse(line, &cmd_).error);
  });
  EXPECT_EQ(errors, (std::vector<CommandError>{CommandError::kInvalidJson,
                                               CommandError::kInvalidJson}));
}

TEST_F(CommandParserTest, DesignUnsubscribe) {
  expectOk(R"({"id":4,"unsubscribe":{"channel":"chat:lobby"}})");
  EXPECT_EQ(cmd_.id, 4u);
  EXPECT_EQ(cmd_.method, Method::kUnsubscribe);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
}

TEST_F(CommandParserTest, DesignPresence) {
  expectOk(R"({"id":5,"presence":{"channel":"chat:lobby"}})");
  EXPECT_EQ(cmd_.id, 5u);
  EXPECT_EQ(cmd_.method, Method::kPresence);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
}

TEST_F(CommandParserTest, DesignHistory) {
  // DESIGN.md writes "since":{...}; a concrete position stands in for it.
  expectOk(R"({"id":6,"history":{"channel":"chat:lobby","since":{"offset":41,"epoch":"e1"},"limit":100}})");
  EXPECT_EQ(cmd_.id, 6u);
  EXPECT_EQ(cmd_.method, Method::kHistory);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
  EXPECT_TRUE(cmd_.since.present);
  EXPECT_EQ(cmd_.since.offset, 41u);
  EXPECT_EQ(cmd_.since.epoch, "e1");
  EXPECT_EQ(cmd_.limit, 100);
  EXPECT_FALSE(cmd_.reverse);
}

TEST_F(CommandParserTest, DesignRefresh) {
  expectOk(R"({"id":7,"refresh":{"token":"<JWT>"}})");
  EXPECT_EQ(cmd_.id, 7u);
  EXPECT_EQ(cmd_.method, Method::kRefresh);
  EXPECT_EQ(cmd_.token, "<JWT>");
}

TEST_F(CommandParserTest, PresenceStats) {
  expectOk(R"({"id":8,"presenceStats":{"channel":"chat:lobby"}})");
  EXPECT_EQ(cmd_.method, Method::kPresenceStats);
  EXPECT_EQ(cmd_.channel, "chat:lobby");
}

TEST_F(CommandParserTest, HistoryReverseWithoutSince) {
  expectOk(R"({"id":9,"history":{"channel":"c","reverse":true,"limit":0}})");
  EXPECT_TRUE(cmd_.reverse);
  EXPECT_EQ(cmd_.limit, 0);
  EXPECT_FALSE(cmd_.since.present);
}

TEST_F(CommandParserTest, SubscribeWithToken) {
  expectOk(R"({"id":1,"subscribe":{"channel":"c","token":"sub-jwt"}})");
  EXPECT_EQ(cmd_.token, "sub-jwt");
}

// --- Accepted variations ---------------------------------------------------

TEST_F(CommandParserTest, EmptyConnectIsAllowed) {
  expectOk(R"({"id":1,"connect":{}})");
  EXPECT_EQ(cmd_.method, Method::kConnect);
  EXPECT_TRUE(cmd_.token.empty());
}

TEST_F(CommandParserTest, KeyOrderAndWhitespaceDoNotMatter) {
  expectOk(" {\t\"subscribe\" : { \"channel\" : \"c\" } ,\r\n \"id\" : 12 }\r");
  EXPECT_EQ(cmd_.id, 12u);
  EXPECT_EQ(cmd_.method, Method::kSubscribe);
  EXPECT_EQ(cmd_.channel, "c");
}

TEST_F(CommandParserTest, IdZeroAndMaxAreAccepted) {
  expectOk(R"({"id":0,"connect":{}})");
  EXPECT_EQ(cmd_.id, 0u);
  expectOk(R"({"id":18446744073709551615,"connect":{}})");
  EXPECT_EQ(cmd_.id, UINT64_MAX);
}

TEST_F(CommandParserTest, UnknownKeysInsideMethodAreIgnored) {
  expectOk(R"({"id":1,"subscribe":{"channel":"c","future":{"x":[1,2]},"flag":true}})");
  EXPECT_EQ(cmd_.channel, "c");
}

TEST_F(CommandParserTest, FieldsAMethodDoesNotUseAreIgnored) {
  // connect reads only "token": "channel" of the wrong type is not looked at.
  expectOk(R"({"id":1,"connect":{"token":"t","channel":5,"limit":"x"}})");
  EXPECT_TRUE(cmd_.channel.empty());
  EXPECT_EQ(cmd_.limit, -1);
  expectOk(R"({"id":1,"unsubscribe":{"channel":"c","payload":{"a":1}}})");
  EXPECT_FALSE(cmd_.has_payload);
}

TEST_F(CommandParserTest, UnknownTopLevelScalarsAreIgnored) {
  expectOk(R"({"id":1,"v":2,"tags":["a"],"connect":{"token":"t"}})");
  EXPECT_EQ(cmd_.token, "t");
}

TEST_F(CommandParserTest, PublishDefaultsAndVersion) {
  expectOk(R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":null}})");
  EXPECT_EQ(cmd_.version, 1);
  EXPECT_TRUE(cmd_.has_payload);
  EXPECT_EQ(cmd_.payload, "null");
  EXPECT_TRUE(cmd_.idempotency_key.empty());
  expectOk(R"({"id":1,"publish":{"channel":"c","eventType":"e","version":7,"payload":1}})");
  EXPECT_EQ(cmd_.version, 7);
  EXPECT_EQ(cmd_.payload, "1");
}

TEST_F(CommandParserTest, PayloadOfEveryKind) {
  const std::pair<const char*, const char*> cases[] = {
      {"[ 1 , 2.5 , -3 , true , false , null ]", "[1,2.5,-3,true,false,null]"},
      {"\"text\"", "\"text\""},
      {"{ }", "{}"},
      {"[ ]", "[]"},
      {"18446744073709551615", "18446744073709551615"},
      {"-9223372036854775808", "-9223372036854775808"},
  };
  for (const auto& [in, minified] : cases) {
    const std::string json =
        std::string(R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":)") + in + "}}";
    expectOk(json);
    EXPECT_EQ(cmd_.payload, minified) << in;
  }
}

TEST_F(CommandParserTest, PayloadWithUnicodeAndEscapesRoundTrips) {
  const std::string json =
      R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":)"
      R"( { "text" : "h\u00e9llo \"q\" \\ \/ \n\t\u0001 \ud83d\ude00 caf)"
      "\xc3\xa9"
      R"(", "n" : [ 1 , 2.5 ] } }})";
  expectOk(json);
  const std::string expected =
      "{\"text\":\"h\xc3\xa9llo \\\"q\\\" \\\\ / \\n\\t\\u0001 \xf0\x9f\x98\x80 caf\xc3\xa9\","
      "\"n\":[1,2.5]}";
  EXPECT_EQ(cmd_.payload, expected);

  // The minified payload is valid JSON that minifies to itself.
  const std::string again =
      R"({"id":2,"publish":{"channel":"c","eventType":"e","payload":)" + cmd_.payload + "}}";
  Command second;
  ASSERT_EQ(parser_.parse(again, &second).error, CommandError::kNone);
  EXPECT_EQ(second.payload, expected);
}

TEST_F(CommandParserTest, PayloadNestedToTheDepthLimit) {
  CommandParser parser(64 * 1024, 64);
  // The command object and "publish" are levels 1 and 2: 62 remain.
  std::string nested = std::string(62, '[') + "1" + std::string(62, ']');
  std::string json =
      R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":)" + nested + "}}";
  ASSERT_EQ(parser.parse(json, &cmd_).error, CommandError::kNone);
  EXPECT_EQ(cmd_.payload, nested);

  nested = "[" + nested + "]";
  json = R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":)" + nested + "}}";
  EXPECT_EQ(parser.parse(json, &cmd_).error, CommandError::kTooDeep);
}

TEST_F(CommandParserTest, LengthLimitsAreInclusive) {
  const std::string max(256, 'k');
  expectOk(R"({"id":1,"publish":{"channel":"c","eventType":")" + max +
           R"(","payload":1,"idempotencyKey":")" + max + R"("}})");
  EXPECT_EQ(cmd_.event_type, max);
  EXPECT_EQ(cmd_.idempotency_key, max);
}

TEST_F(CommandParserTest, ReusesCommandAndResetsIt) {
  expectOk(R"({"id":3,"publish":{"channel":"c","eventType":"e","version":4,"payload":{"a":1},)"
           R"("idempotencyKey":"k"}})");
  expectOk(R"({"id":6,"history":{"channel":"d","since":{"offset":1,"epoch":"x"},"limit":5,"reverse":true}})");
  EXPECT_TRUE(cmd_.event_type.empty());
  EXPECT_EQ(cmd_.version, 1);
  EXPECT_FALSE(cmd_.has_payload);
  EXPECT_TRUE(cmd_.payload.empty());
  EXPECT_TRUE(cmd_.idempotency_key.empty());
  expectOk(R"({"id":1,"connect":{}})");
  EXPECT_EQ(cmd_.method, Method::kConnect);
  EXPECT_TRUE(cmd_.channel.empty());
  EXPECT_FALSE(cmd_.since.present);
  EXPECT_EQ(cmd_.since.offset, 0u);
  EXPECT_TRUE(cmd_.since.epoch.empty());
  EXPECT_EQ(cmd_.limit, -1);
  EXPECT_FALSE(cmd_.reverse);

  // A failed parse also starts from a clean command.
  expectOk(R"({"id":2,"subscribe":{"channel":"c"}})");
  expectError("nope", CommandError::kInvalidJson);
  EXPECT_TRUE(cmd_.channel.empty());
  EXPECT_EQ(cmd_.id, 0u);
}

TEST_F(CommandParserTest, ManyParsesWithOneParser) {
  for (int i = 0; i < 1000; ++i) {
    const std::string json = R"({"id":)" + std::to_string(i) +
                             R"(,"publish":{"channel":"c","eventType":"e","payload":[)" +
                             std::to_string(i) + "]}}";
    ASSERT_EQ(parse(json).error, CommandError::kNone);
    ASSERT_EQ(cmd_.id, static_cast<uint64_t>(i));
    ASSERT_EQ(cmd_.payload, "[" + std::to_string(i) + "]");
  }
}

// --- Errors ----------------------------------------------------------------

TEST_F(CommandParserTest, InvalidJson) {
  for (const char* bad : {"", "   ", "{", "{\"id\":1,}", "{\"id\":1,\"connect\":{}} x",
                          "{\"id\":1,\"connect\":{}}{}", "{'id':1}", "{\"id\":01}",
                          "{\"id\":1,\"connect\":{\"token\":\"\x01\"}}",
                          "{\"id\":1,\"connect\":{\"token\":\"\xff\"}}",
                          "{\"id\":1e999,\"connect\":{}}",
                          "{\"id\":18446744073709551616,\"connect\":{}}"}) {
    const ParsedCommand r = expectError(bad, CommandError::kInvalidJson);
    EXPECT_EQ(r.id, 0u);
  }
}

TEST_F(CommandParserTest, TooLarge) {
  CommandParser small(64, 64);
  std::string json = R"({"id":1,"connect":{"token":")";
  json += std::string(64 - json.size() - 3, 't');
  json += "\"}}";
  ASSERT_EQ(json.size(), 64u);
  EXPECT_EQ(small.parse(json, &cmd_).error, CommandError::kNone);
  json.insert(json.size() - 3, "t");
  const ParsedCommand r = small.parse(json, &cmd_);
  EXPECT_EQ(r.error, CommandError::kTooLarge);
  EXPECT_FALSE(r.what.empty());
  // Still usable after refusing.
  EXPECT_EQ(small.parse(R"({"id":1,"connect":{}})", &cmd_).error, CommandError::kNone);
}

TEST_F(CommandParserTest, TooLargeWithDefaultLimit) {
  std::string json = R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":")";
  json += std::string(64 * 1024, 'x');
  json += "\"}}";
  expectError(json, CommandError::kTooLarge);
}

TEST_F(CommandParserTest, NestedTenThousandDeepIsTooDeep) {
  const std::string arrays = std::string(10000, '[') + std::string(10000, ']');
  expectError(arrays, CommandError::kTooDeep);

  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  objects += "1";
  objects += std::string(10000, '}');
  expectError(objects, CommandError::kTooDeep);

  const std::string in_payload =
      R"({"id":5,"publish":{"channel":"c","eventType":"e","payload":)" + arrays + "}}";
  expectError(in_payload, CommandError::kTooDeep);

  // Unterminated: as deep, and not JSON either; depth is the better answer.
  expectError(std::string(10000, '['), CommandError::kTooDeep);
  expectError(std::string(10000, '{'), CommandError::kTooDeep);
  expectError(R"({"id":1,"connect":{"x":)" + std::string(10000, '['), CommandError::kTooDeep);
}

TEST_F(CommandParserTest, DepthLimitCountsTheCommandObject) {
  CommandParser parser(1024, 3);
  Command cmd;
  EXPECT_EQ(parser.parse(R"({"id":1,"subscribe":{"channel":"c","since":{"offset":1}}})", &cmd).error,
            CommandError::kNone);
  EXPECT_EQ(parser.parse(R"({"id":1,"history":{"channel":"c","x":{"y":{"z":1}}}})", &cmd).error,
            CommandError::kTooDeep);
  EXPECT_EQ(parser.parse(R"({"id":1,"history":{"channel":"c","x":[[1]]}})", &cmd).error,
            CommandError::kTooDeep);
  // Brackets inside strings do not count, also when the text is invalid.
  EXPECT_EQ(parser.parse(R"({"id":1,"connect":{"token":"[[[[{{{{"}})", &cmd).error,
            CommandError::kNone);
  EXPECT_EQ(parser.parse(R"({"id":1,"connect":{"token":"\"[[[[{{{{"})", &cmd).error,
            CommandError::kInvalidJson);

  CommandParser flat(1024, 1);
  EXPECT_EQ(flat.parse(R"({"id":1,"connect":{}})", &cmd).error, CommandError::kNone);
  EXPECT_EQ(flat.parse(R"({"id":1,"connect":{"token":"t"}})", &cmd).error,
            CommandError::kTooDeep);
}

TEST_F(CommandParserTest, NotObject) {
  for (const char* bad : {"[]", "[{\"id\":1,\"connect\":{}}]", "1", "\"connect\"", "null", "true"}) {
    expectError(bad, CommandError::kNotObject);
  }
}

TEST_F(CommandParserTest, MissingId) {
  expectError(R"({"connect":{}})", CommandError::kMissingId);
  expectError(R"({})", CommandError::kMissingId);
  for (const char* bad : {R"({"id":1.0,"connect":{}})", R"({"id":1.5,"connect":{}})",
                          R"({"id":-1,"connect":{}})", R"({"id":"1","connect":{}})",
                          R"({"id":null,"connect":{}})", R"({"id":true,"connect":{}})",
                          R"({"id":[1],"connect":{}})", R"({"id":{},"connect":{}})",
                          R"({"id":1e3,"connect":{}})"}) {
    const ParsedCommand r = expectError(bad, CommandError::kMissingId);
    EXPECT_EQ(r.id, 0u);
  }
}

TEST_F(CommandParserTest, DuplicateIdIsRefusedButReported) {
  const ParsedCommand r = expectError(R"({"id":4,"id":5,"connect":{}})", CommandError::kMissingId);
  EXPECT_EQ(r.id, 4u);
}

TEST_F(CommandParserTest, MissingIdOutranksMethodErrors) {
  expectError(R"({"nope":{}})", CommandError::kMissingId);
  expectError(R"({"connect":{},"publish":{}})", CommandError::kMissingId);
}

TEST_F(CommandParserTest, UnknownMethod) {
  ParsedCommand r = expectError(R"({"id":9,"nope":{}})", CommandError::kUnknownMethod);
  EXPECT_EQ(r.id, 9u);
  r = expectError(R"({"id":9})", CommandError::kUnknownMethod);
  EXPECT_EQ(r.id, 9u);
  expectError(R"({"id":9,"x":1})", CommandError::kUnknownMethod);
  expectError(R"({"id":9,"Connect":{}})", CommandError::kUnknownMethod);
  expectError(R"({"id":9,"connect":{},"subscribe":{"channel":"c"}})", CommandError::kUnknownMethod);
  expectError(R"({"id":9,"connect":{},"connect":{}})", CommandError::kUnknownMethod);
  expectError(R"({"id":9,"connect":{},"future":{}})", CommandError::kUnknownMethod);
  expectError(R"({"id":9,"connect":{},"publish":1})", CommandError::kUnknownMethod);
}

TEST_F(CommandParserTest, MethodBodyMustBeAnObject) {
  for (const char* bad : {R"({"id":2,"connect":null})", R"({"id":2,"connect":"t"})",
                          R"({"id":2,"subscribe":[]})", R"({"id":2,"publish":1})",
                          R"({"id":2,"refresh":true})"}) {
    const ParsedCommand r = expectError(bad, CommandError::kBadField);
    EXPECT_EQ(r.id, 2u);
  }
  EXPECT_EQ(parse(R"({"id":2,"connect":null})").what, "connect must be an object");
}

TEST_F(CommandParserTest, ChannelRequired) {
  for (const char* m : {"subscribe", "unsubscribe", "presence", "presenceStats", "history"}) {
    const std::string name = m;
    ParsedCommand r = expectError(R"({"id":3,")" + name + R"(":{}})", CommandError::kBadField);
    EXPECT_EQ(r.what, "channel required") << m;
    EXPECT_EQ(r.id, 3u);
    r = expectError(R"({"id":3,")" + name + R"(":{"channel":""}})", CommandError::kBadField);
    EXPECT_EQ(r.what, "channel required") << m;
  }
  const ParsedCommand r = expectError(R"({"id":3,"publish":{"eventType":"e","payload":1}})",
                                      CommandError::kBadField);
  EXPECT_EQ(r.what, "channel required");
}

TEST_F(CommandParserTest, FieldTypes) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"id":1,"subscribe":{"channel":5}})", "channel must be a string"},
      {R"({"id":1,"subscribe":{"channel":null}})", "channel must be a string"},
      {R"({"id":1,"connect":{"token":1}})", "token must be a string"},
      {R"({"id":1,"refresh":{"token":["t"]}})", "token must be a string"},
      {R"({"id":1,"subscribe":{"channel":"c","token":{}}})", "token must be a string"},
      {R"({"id":1,"publish":{"channel":"c","eventType":1,"payload":1}})",
       "eventType must be a string"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","version":"1","payload":1}})",
       "version must be an integer"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","version":1.0,"payload":1}})",
       "version must be an integer"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","version":0,"payload":1}})",
       "version must be >= 1"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","version":-2,"payload":1}})",
       "version must be >= 1"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","version":18446744073709551615,"payload":1}})",
       "version must be an integer"},
      {R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":1,"idempotencyKey":7}})",
       "idempotencyKey must be a string"},
      {R"({"id":1,"history":{"channel":"c","limit":"10"}})", "limit must be an integer"},
      {R"({"id":1,"history":{"channel":"c","limit":1.5}})", "limit must be an integer"},
      {R"({"id":1,"history":{"channel":"c","limit":-1}})", "limit must be >= 0"},
      {R"({"id":1,"history":{"channel":"c","reverse":1}})", "reverse must be a boolean"},
      {R"({"id":1,"history":{"channel":"c","reverse":"true"}})", "reverse must be a boolean"},
      {R"({"id":1,"history":{"channel":"c","since":5}})", "since must be an object"},
      {R"({"id":1,"subscribe":{"channel":"c","since":null}})", "since must be an object"},
      {R"({"id":1,"subscribe":{"channel":"c","since":{"epoch":"e"}}})", "since.offset required"},
      {R"({"id":1,"subscribe":{"channel":"c","since":{"offset":-1}}})",
       "since.offset must be a non-negative integer"},
      {R"({"id":1,"subscribe":{"channel":"c","since":{"offset":"4"}}})",
       "since.offset must be a non-negative integer"},
      {R"({"id":1,"subscribe":{"channel":"c","since":{"offset":4,"epoch":4}}})",
       "since.epoch must be a string"},
  };
  for (const auto& [json, what] : cases) {
    const ParsedCommand r = expectError(json, CommandError::kBadField);
    EXPECT_EQ(r.what, what) << json;
    EXPECT_EQ(r.id, 1u) << json;
  }
}

TEST_F(CommandParserTest, PublishRequirements) {
  ParsedCommand r = expectError(R"({"id":1,"publish":{"channel":"c","payload":1}})",
                                CommandError::kBadField);
  EXPECT_EQ(r.what, "eventType required");
  r = expectError(R"({"id":1,"publish":{"channel":"c","eventType":"","payload":1}})",
                  CommandError::kBadField);
  EXPECT_EQ(r.what, "eventType required");
  r = expectError(R"({"id":1,"publish":{"channel":"c","eventType":"e"}})", CommandError::kBadField);
  EXPECT_EQ(r.what, "payload required");

  const std::string too_long(257, 'k');
  r = expectError(R"({"id":1,"publish":{"channel":"c","eventType":")" + too_long +
                      R"(","payload":1}})",
                  CommandError::kBadField);
  EXPECT_EQ(r.what, "eventType longer than 256 bytes");
  r = expectError(R"({"id":1,"publish":{"channel":"c","eventType":"e","payload":1,"idempotencyKey":")" +
                      too_long + R"("}})",
                  CommandError::kBadField);
  EXPECT_EQ(r.what, "idempotencyKey longer than 256 bytes");
}

TEST_F(CommandParserTest, SinceOffsetLimits) {
  expectOk(R"({"id":1,"subscribe":{"channel":"c","since":{"offset":18446744073709551615}}})");
  EXPECT_EQ(cmd_.since.offset, UINT64_MAX);
  EXPECT_TRUE(cmd_.since.epoch.empty());
  EXPECT_TRUE(cmd_.since.present);
}

// --- split -----------------------------------------------------------------

std::vector<std::string> splitAll(std::string_view frame) {
  std::vector<std::string> lines;
  CommandParser::split(frame, [&](std::string_view line) { lines.emplace_back(line); });
  return lines;
}

TEST(CommandParserSplitTest, SkipsBlankLines) {
  EXPECT_EQ(splitAll("a\nb\n\n c"), (std::vector<std::string>{"a", "b", " c"}));
  EXPECT_EQ(splitAll("one"), (std::vector<std::string>{"one"}));
  EXPECT_EQ(splitAll("a\n"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(splitAll("\n\na"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(splitAll("a\r\nb\r\n"), (std::vector<std::string>{"a\r", "b\r"}));
  EXPECT_TRUE(splitAll("").empty());
  EXPECT_TRUE(splitAll("\n").empty());
  EXPECT_TRUE(splitAll(" \t\r\n\n \n\t").empty());
}

TEST(CommandParserSplitTest, FrameOfSeveralCommands) {
  CommandParser parser;
  Command cmd;
  const std::string frame =
      "{\"id\":1,\"connect\":{\"token\":\"t\"}}\r\n"
      "{\"id\":2,\"subscribe\":{\"channel\":\"a\"}}\n"
      "\n"
      "{\"id\":3,\"subscribe\":{\"channel\":\"b\"}}";
  std::vector<uint64_t> ids;
  std::vector<std::string> channels;
  CommandParser::split(frame, [&](std::string_view line) {
    ASSERT_EQ(parser.parse(line, &cmd).error, CommandError::kNone) << line;
    ids.push_back(cmd.id);
    channels.push_back(cmd.channel);
  });
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(channels, (std::vector<std::string>{"", "a", "b"}));
}

}  // namespace
}  // namespace herald::protocol
