// append_json_string must write what boost::json::serialize writes, so JSON built by hand (router
// management, ioMessages, controller rows) and JSON built through the library cannot differ.
#include "fogmesh/common/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

namespace {

std::string hand_written(std::string_view s) {
  std::string out;
  fogmesh::append_json_string(out, s);
  return out;
}

std::string library_written(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

TEST(JsonText, EveryAsciiByteMatchesBoostJson) {
  for (int c = 0; c < 0x80; ++c) {
    const std::string s = "a" + std::string(1, static_cast<char>(c)) + "b";
    EXPECT_EQ(hand_written(s), library_written(s)) << "byte " << c;
  }
}

TEST(JsonText, PlainRunsAndUtf8AreCopiedAsTheyAre) {
  const std::string s = "r\xC3\xA9sum\xC3\xA9 \"quoted\" path\\to\ttab \xE2\x82\xAC end";
  EXPECT_EQ(hand_written(s), library_written(s));
  EXPECT_EQ(hand_written(""), "\"\"");
  EXPECT_EQ(hand_written(std::string_view("\0x", 2)), "\"\\u0000x\"");
}

TEST(JsonText, AppendsToWhatIsThere) {
  std::string out = "{\"k\":";
  fogmesh::append_json_string(out, "v\n");
  EXPECT_EQ(out, "{\"k\":\"v\\n\"");
}

}  // namespace
