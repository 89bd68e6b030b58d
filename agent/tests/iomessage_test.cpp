// ioMessage codecs: byte-exact binary layout (checked against a hand-built frame in the
// reference's layout), JSON keys and base64, FlatBuffers round trip, and the tolerant reader's
// limits (what it accepts from Java/Python writers, what it rejects and how it says so).
#include "fogmesh/agent/iomessage.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "fogmesh/agent/message_id.hpp"
#include "fogmesh/agent/recent_ids.hpp"

namespace fogmesh::agent {
namespace {

io_message full_message() {
  io_message m;
  m.id = "0123456789abcdef0123456789abcdef";
  m.tag = "tag-1";
  m.group_id = "group";
  m.sequence_number = 7;
  m.sequence_total = 300;
  m.priority = -2;
  m.timestamp = 1764000000123;
  m.publisher = "msvc-publisher";
  m.auth_id = "auth";
  m.auth_group = "authgroup";
  m.chain_position = 5;
  m.hash = "h";
  m.previous_hash = "ph";
  m.nonce = "n0";
  m.difficulty_target = -1;
  m.info_type = "text";
  m.info_format = "utf-8";
  m.context_data = {0, 1, 2, 255};
  m.content_data = {'h', 'e', 'l', 'l', 'o'};
  return m;
}

std::vector<uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

TEST(IoMessageBinary, LayoutMatchesTheReference) {
  io_message m;
  m.id = "ab";
  m.tag = "t";
  m.sequence_number = 0;  // zero → length 0 (as Java writes it)
  m.timestamp = 0x0102;   // minimal width → 2 bytes
  m.publisher = "p";
  m.info_type = "x";
  m.info_format = "y";
  m.content_data = {9, 8, 7};
  auto encoded = encode_binary(m);
  ASSERT_TRUE(encoded);
  const auto& b = *encoded;
  ASSERT_EQ(b.size(), 33u + 2 + 1 + 2 + 1 + 1 + 1 + 3);
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 4);  // version
  EXPECT_EQ(b[2], 2);  // id length
  EXPECT_EQ(b[3], 0);
  EXPECT_EQ(b[4], 1);   // tag length (2 bytes)
  EXPECT_EQ(b[6], 0);   // sequencenumber: zero is written as length 0
  EXPECT_EQ(b[9], 2);   // timestamp length
  EXPECT_EQ(b[10], 1);  // publisher
  EXPECT_EQ(b[23], 1);  // infotype
  EXPECT_EQ(b[24], 1);  // infoformat
  EXPECT_EQ(b[29], 0);
  EXPECT_EQ(b[32], 3);  // contentdata length (4 bytes)
  std::vector<uint8_t> values(b.begin() + 33, b.end());
  std::vector<uint8_t> expected = {'a', 'b', 't', 0x01, 0x02, 'p', 'x', 'y', 9, 8, 7};
  EXPECT_EQ(values, expected);
}

TEST(IoMessageBinary, RoundTripsEveryField) {
  auto m = full_message();
  auto encoded = encode_binary(m);
  ASSERT_TRUE(encoded);
  auto decoded = decode_binary(*encoded);
  ASSERT_TRUE(decoded) << decoded.error->message;
  EXPECT_EQ(decoded.message, m);
}

TEST(IoMessageBinary, ReadsJavaFullWidthAndPythonMinimalNumbers) {
  // Java: sequencetotal written as 4 bytes, timestamp as 8; Python: sequencenumber 200 as one
  // byte (unsigned), priority -1 as one byte.
  std::vector<uint8_t> frame(33, 0);
  frame[1] = 4;
  frame[6] = 1;  // sequencenumber
  frame[7] = 4;  // sequencetotal
  frame[8] = 1;  // priority
  frame[9] = 8;  // timestamp
  std::vector<uint8_t> values = {200, 0xff, 0xff, 0xff, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 1, 0};
  frame.insert(frame.end(), values.begin(), values.end());
  auto d = decode_binary(frame);
  ASSERT_TRUE(d) << d.error->message;
  EXPECT_EQ(d.message.sequence_number, 200);
  EXPECT_EQ(d.message.sequence_total, -2);
  EXPECT_EQ(d.message.priority, -1);
  EXPECT_EQ(d.message.timestamp, 256);
}

TEST(IoMessageBinary, RejectsShortHeaderWithClearError) {
  std::vector<uint8_t> frame(20, 0);
  auto d = decode_binary(frame);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error->code, iomessage_errc::truncated);
  EXPECT_NE(d.error->message.find("33-byte header"), std::string::npos) << d.error->message;
}

TEST(IoMessageBinary, RejectsTruncatedValueNamingTheField) {
  auto m = full_message();
  auto encoded = *encode_binary(m);
  encoded.erase(encoded.end() - 2, encoded.end());  // cut into contentdata
  auto d = decode_binary(encoded);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error->code, iomessage_errc::truncated);
  EXPECT_NE(d.error->message.find("'contentdata'"), std::string::npos) << d.error->message;
}

TEST(IoMessageBinary, RejectsTrailingBytes) {
  auto encoded = *encode_binary(full_message());
  encoded.push_back(0);
  auto d = decode_binary(encoded);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error->code, iomessage_errc::trailing_bytes);
}

TEST(IoMessageBinary, RejectsOverlongNumbers) {
  std::vector<uint8_t> frame(33, 0);
  frame[1] = 4;
  frame[9] = 9;  // timestamp 9 bytes
  frame.resize(33 + 9, 1);
  auto d = decode_binary(frame);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error->code, iomessage_errc::field_too_long);
  EXPECT_NE(d.error->message.find("timestamp"), std::string::npos);
  // sequencenumber with 8 bytes holding a value beyond int32.
  std::vector<uint8_t> f2(33, 0);
  f2[1] = 4;
  f2[6] = 8;
  std::vector<uint8_t> v = {0, 0, 0, 1, 0, 0, 0, 0};
  f2.insert(f2.end(), v.begin(), v.end());
  auto d2 = decode_binary(f2);
  ASSERT_FALSE(d2);
  EXPECT_NE(d2.error->message.find("out of range"), std::string::npos);
}

TEST(IoMessageBinary, RejectsInvalidUtf8Strings) {
  io_message m;
  m.publisher = "ab";
  auto encoded = *encode_binary(m);
  encoded[33] = 0xff;  // publisher is the first non-empty value
  auto d = decode_binary(encoded);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error->code, iomessage_errc::bad_string);
  EXPECT_NE(d.error->message.find("'publisher'"), std::string::npos) << d.error->message;
  m.publisher = "caf\xc3\xa9";  // valid two-byte sequence
  EXPECT_TRUE(decode_binary(*encode_binary(m)));
}

TEST(IoMessageBinary, EncoderRefusesStringsBeyondTheirSlot) {
  io_message m;
  m.id = std::string(256, 'x');  // id has a 1-byte length slot
  auto encoded = encode_binary(m);
  ASSERT_FALSE(encoded);
  EXPECT_EQ(encoded.error(), iomessage_errc::field_too_long);
  m.id.clear();
  m.tag = std::string(65535, 't');  // 2-byte slot: exactly fits
  EXPECT_TRUE(encode_binary(m));
}

TEST(IoMessageJson, UsesUpstreamKeysAndBase64) {
  auto text = encode_json(full_message());
  auto v = boost::json::parse(text).as_object();
  for (const char* key : {"id",
                          "tag",
                          "groupid",
                          "sequencenumber",
                          "sequencetotal",
                          "priority",
                          "timestamp",
                          "publisher",
                          "authid",
                          "authgroup",
                          "version",
                          "chainposition",
                          "hash",
                          "previoushash",
                          "nonce",
                          "difficultytarget",
                          "infotype",
                          "infoformat",
                          "contextdata",
                          "contentdata"}) {
    EXPECT_TRUE(v.contains(key)) << key;
  }
  EXPECT_EQ(v.size(), 20u);
  EXPECT_EQ(v.at("contentdata").as_string(), "aGVsbG8=");
  EXPECT_EQ(v.at("contextdata").as_string(), "AAEC/w==");
  EXPECT_EQ(v.at("version").as_int64(), 4);
}

TEST(IoMessageJson, RoundTrips) {
  auto m = full_message();
  auto d = decode_json(encode_json(m));
  ASSERT_TRUE(d) << d.error->message;
  EXPECT_EQ(d.message, m);
}

TEST(IoMessageJson, TolerantReader) {
  // Numbers as strings, unpadded URL-safe base64, nulls, unknown keys, missing fields.
  auto d =
      decode_json(R"({"publisher":"p","version":"4","timestamp":"12","priority":3.0,"tag":null,)"
                  R"("contentdata":"-_8","contextdata":"aGk\n","extra":{"x":1}})");
  ASSERT_TRUE(d) << d.error->message;
  EXPECT_EQ(d.message.publisher, "p");
  EXPECT_EQ(d.message.version, 4);
  EXPECT_EQ(d.message.timestamp, 12);
  EXPECT_EQ(d.message.priority, 3);
  EXPECT_EQ(d.message.content_data, (std::vector<uint8_t>{0xfb, 0xff}));
  EXPECT_EQ(d.message.context_data, bytes_of("hi"));
  EXPECT_TRUE(d.message.tag.empty());
}

TEST(IoMessageJson, ClearErrors) {
  struct tc {
    const char* text;
    iomessage_errc code;
    const char* needle;
  } cases[] = {
      {"not json", iomessage_errc::bad_json, "not JSON"},
      {"[1,2]", iomessage_errc::bad_json, "JSON object"},
      {R"({"publisher":5})", iomessage_errc::bad_json, "'publisher' must be a string"},
      {R"({"priority":300})", iomessage_errc::bad_json, "'priority' value 300 is out of range"},
      {R"({"sequencenumber":"12x"})", iomessage_errc::bad_json, "'sequencenumber' must be"},
      {R"({"timestamp":1.5})", iomessage_errc::bad_json, "'timestamp' must be an integer"},
      {R"({"contentdata":"a$b"})", iomessage_errc::bad_base64, "'contentdata'"},
      {R"({"contentdata":"a"})", iomessage_errc::bad_base64, "'contentdata'"},
  };
  for (const auto& c : cases) {
    auto d = decode_json(c.text);
    ASSERT_FALSE(d) << c.text;
    EXPECT_EQ(d.error->code, c.code) << c.text;
    EXPECT_NE(d.error->message.find(c.needle), std::string::npos)
        << c.text << " -> " << d.error->message;
  }
}

TEST(IoMessageFlatBuffer, RoundTripsAndVerifies) {
  auto m = full_message();
  auto fb = encode_flatbuffer(m);
  auto d = decode_flatbuffer(fb);
  ASSERT_TRUE(d) << d.error->message;
  EXPECT_EQ(d.message, m);
  fb[4] = 'X';  // the file identifier IOM4
  EXPECT_FALSE(decode_flatbuffer(fb));
  std::vector<uint8_t> garbage = {1, 2, 3};
  auto g = decode_flatbuffer(garbage);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error->code, iomessage_errc::bad_flatbuffer);
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(base64_encode(bytes_of("")), "");
  EXPECT_EQ(base64_encode(bytes_of("f")), "Zg==");
  EXPECT_EQ(base64_encode(bytes_of("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(bytes_of("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(bytes_of("foobar")), "Zm9vYmFy");
  std::vector<uint8_t> out;
  ASSERT_TRUE(base64_decode("Zm9vYmE=", out));
  EXPECT_EQ(out, bytes_of("fooba"));
  EXPECT_FALSE(base64_decode("Zm=9", out));  // data after padding
}

// Ids are 32 lower-case hex digits and differ between calls and between threads (each thread
// seeds its own generator from the OS).
TEST(MessageId, HexAndDistinctAcrossThreads) {
  std::set<std::string> ids;
  std::mutex mutex;
  auto make_ids = [&] {
    for (int i = 0; i < 1000; ++i) {
      std::string id = new_message_id();
      std::lock_guard lock(mutex);
      ids.insert(id);
    }
  };
  std::thread other(make_ids);
  make_ids();
  other.join();
  EXPECT_EQ(ids.size(), 2000u);
  for (const auto& id : ids) {
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
}

// The receiver's window of recent ids: a copy within the window is refused, an id pushed out
// by `capacity` newer ones is new again; deletions keep every remaining id findable (the table's
// backward shift), checked against a model over many random ids.
TEST(RecentIds, RefusesCopiesWithinTheWindowOnly) {
  recent_ids window(4);
  EXPECT_TRUE(window.insert("a"));
  EXPECT_FALSE(window.insert("a"));
  EXPECT_TRUE(window.insert(""));  // no id: nothing to compare, always delivered
  EXPECT_TRUE(window.insert(""));
  for (const char* id : {"b", "c", "d"}) EXPECT_TRUE(window.insert(id));
  EXPECT_FALSE(window.insert("a"));  // still among the last 4
  EXPECT_TRUE(window.insert("e"));   // pushes "a" out
  EXPECT_TRUE(window.insert("a"));

  recent_ids big(1000);
  std::deque<std::string> model;
  for (int i = 0; i < 20000; ++i) {
    // Mostly new ids, now and then one of the recent ones or one just past the window.
    std::string id;
    if (i % 7 == 3 && !model.empty()) {
      id = model[static_cast<size_t>(i) % model.size()];
    } else {
      id = new_message_id();
    }
    const bool in_window = std::find(model.begin(), model.end(), id) != model.end();
    ASSERT_EQ(big.insert(id), !in_window) << "at " << i;
    if (!in_window) {
      model.push_back(id);
      if (model.size() > 1000) model.pop_front();
    }
  }
}

}  // namespace
}  // namespace fogmesh::agent
