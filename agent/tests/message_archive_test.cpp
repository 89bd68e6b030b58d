// The on-disk message archive (src/message_archive.*) on real files: messages survive a reopen
// (as after an agent restart), the byte bound drops the oldest first, a torn or corrupt tail is
// cut off, staged messages are written by commit(), and messages a process had committed
// survive its SIGKILL.
#include "message_archive.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace fogmesh::agent {
namespace {

namespace fs = std::filesystem;

class archive_dir {
 public:
  archive_dir() {
    std::string t = (fs::temp_directory_path() / "fogmesh-archive-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~archive_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string archive() const { return path_ + "/archive"; }

 private:
  std::string path_;
};

io_message make_message(const std::string& publisher, int64_t timestamp, size_t payload = 100) {
  io_message m;
  m.publisher = publisher;
  m.id = "id-" + std::to_string(timestamp);
  m.timestamp = timestamp;
  m.info_type = "test";
  m.info_format = "raw";
  m.content_data.assign(payload, static_cast<uint8_t>(timestamp));
  return m;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<int64_t> timestamps(const message_archive::query_result& r) {
  std::vector<int64_t> out;
  for (const auto& m : r.messages) out.push_back(m.timestamp);
  return out;
}

TEST(message_archive, QueryByPublisherAndTimeRangeSurvivesReopen) {
  archive_dir d;
  {
    message_archive a(d.archive(), 1'000'000);
    for (int64_t t = 1; t <= 100; ++t)
      ASSERT_TRUE(a.append(make_message(t % 2 ? "odd" : "even", 1000 + t)));
    EXPECT_EQ(a.messages(), 100u);
  }
  message_archive a(d.archive(), 1'000'000);
  EXPECT_EQ(a.messages(), 100u);
  auto r = a.query(1010, 1015, {"odd"}, 100);
  EXPECT_EQ(timestamps(r), (std::vector<int64_t>{1011, 1013, 1015}));
  EXPECT_FALSE(r.truncated);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0], make_message("odd", 1011));  // every field back as it went in
  r = a.query(1010, 1013, {"odd", "even"}, 100);
  EXPECT_EQ(timestamps(r), (std::vector<int64_t>{1010, 1011, 1012, 1013}));
  EXPECT_TRUE(a.query(1010, 1013, {"nobody"}, 100).messages.empty());
  EXPECT_TRUE(a.query(2000, 3000, {"odd"}, 100).messages.empty());
  r = a.query(0, 5000, {"even"}, 10);
  EXPECT_EQ(r.messages.size(), 10u);
  EXPECT_TRUE(r.truncated);
  // Appending continues after the reopen.
  ASSERT_TRUE(a.append(make_message("odd", 1101)));
  EXPECT_EQ(timestamps(a.query(1099, 1200, {"odd"}, 100)), (std::vector<int64_t>{1099, 1101}));
}

TEST(message_archive, BoundDropsTheOldestFirst) {
  archive_dir d;
  const uint64_t bound = 64 * 1024;
  {
    message_archive a(d.archive(), bound);
    for (int64_t t = 0; t < 400; ++t) {
      ASSERT_TRUE(a.append(make_message("p", t, 1024)));
      ASSERT_LE(a.bytes(), bound);
    }
    EXPECT_EQ(a.dropped() + a.messages(), 400u);
    EXPECT_GT(a.dropped(), 300u);
    EXPECT_GT(a.messages(), 30u);  // most of the bound is in use
  }
  uint64_t on_disk = 0;
  for (const auto& f : segment_files(d.archive())) on_disk += fs::file_size(f);
  EXPECT_LE(on_disk, bound);
  message_archive a(d.archive(), bound);
  auto all = timestamps(a.query(0, 1000, {"p"}, 2000));
  ASSERT_EQ(all.size(), a.messages());
  // What is left is the newest messages, without holes.
  EXPECT_EQ(all.back(), 399);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i], all[i - 1] + 1);
  // A smaller bound (diskLimit lowered at the controller) applies at once.
  a.set_max_bytes(16 * 1024);
  EXPECT_LE(a.bytes(), 16u * 1024);
  all = timestamps(a.query(0, 1000, {"p"}, 2000));
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), 399);
  // Larger than half the bound: not archived, counted.
  EXPECT_FALSE(a.append(make_message("p", 2000, 9000)));
  EXPECT_EQ(a.failed(), 1u);
  // Bound 0 (diskLimit 0): archiving off.
  a.set_max_bytes(0);
  EXPECT_EQ(a.bytes(), 0u);
  EXPECT_FALSE(a.append(make_message("p", 2001)));
}

TEST(message_archive, TornTailIsCutOffAndAppendingContinues) {
  archive_dir d;
  {
    message_archive a(d.archive(), 1'000'000);
    for (int64_t t = 1; t <= 10; ++t) ASSERT_TRUE(a.append(make_message("p", t)));
  }
  auto segs = segment_files(d.archive());
  ASSERT_EQ(segs.size(), 1u);
  auto good_size = fs::file_size(segs[0]);
  {
    // A record cut short in the middle of its write: the first 40 bytes of a valid one.
    std::ofstream f(segs[0], std::ios::binary | std::ios::app);
    std::string fake(40, '\0');
    fake[0] = 120;  // says 120 payload bytes; only 23 follow
    f << fake;
  }
  {
    message_archive a(d.archive(), 1'000'000);
    EXPECT_EQ(a.messages(), 10u);
    EXPECT_EQ(a.recovered_bytes_discarded(), 40u);
    EXPECT_EQ(fs::file_size(segs[0]), good_size);
    ASSERT_TRUE(a.append(make_message("p", 11)));
  }
  {
    // The last record damaged (a flipped payload byte): its CRC no longer matches.
    std::fstream f(segs[0], std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(fs::file_size(segs[0]) - 3));
    f.put('\x7f');
  }
  message_archive a(d.archive(), 1'000'000);
  auto all = timestamps(a.query(0, 100, {"p"}, 100));
  EXPECT_EQ(all, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_GT(a.recovered_bytes_discarded(), 0u);
}

TEST(message_archive, SealedSegmentsAreIndexedAndRescannedWhenTheIndexIsMissing) {
  archive_dir d;
  {
    message_archive a(d.archive(), 200'000);  // 12.5 kB segments
    for (int64_t t = 0; t < 300; ++t)
      ASSERT_TRUE(a.append(make_message(t < 150 ? "a" : "b", t, 500)));
  }
  auto segs = segment_files(d.archive());
  ASSERT_GT(segs.size(), 3u);
  size_t indexes = 0;
  for (const auto& e : fs::directory_iterator(d.archive()))
    indexes += e.path().extension() == ".idx";
  EXPECT_EQ(indexes, segs.size() - 1);  // every sealed one
  fs::remove(fs::path(segs[1]).replace_extension(".idx"));
  message_archive a(d.archive(), 200'000);
  auto b = a.query(0, 1000, {"b"}, 1000);
  ASSERT_FALSE(b.messages.empty());
  EXPECT_EQ(b.messages.back().timestamp, 299);
  auto all = timestamps(a.query(0, 1000, {"a", "b"}, 1000));
  ASSERT_EQ(all.size(), a.messages());
  for (size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i], all[i - 1] + 1);
}

TEST(message_archive, FieldsTooLongForTheBinaryFormAreKept) {
  archive_dir d;
  auto m = make_message("p", 5);
  m.tag = std::string(70'000, 't');  // the binary form's tag slot holds 65535 bytes
  {
    message_archive a(d.archive(), 1'000'000);
    ASSERT_TRUE(a.append(m));
  }
  message_archive a(d.archive(), 1'000'000);
  auto r = a.query(0, 10, {"p"}, 10);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0], m);
}

// Staged records reach the file only with commit(), all of them in one go, and the file then
// holds exactly them (a commit that wrote nothing, or only some, fails here).
TEST(message_archive, StagedMessagesAreWrittenByCommit) {
  archive_dir d;
  message_archive a(d.archive(), 1'000'000);
  auto files = segment_files(d.archive());
  ASSERT_EQ(files.size(), 1u);
  for (int64_t t = 1; t <= 5; ++t) ASSERT_TRUE(a.stage(make_message("p", t)));
  EXPECT_EQ(a.staged(), 5u);
  EXPECT_EQ(fs::file_size(files[0]), 0u);
  EXPECT_TRUE(timestamps(a.query(0, 100, {"p"}, 100)).empty());
  ASSERT_TRUE(a.commit());
  EXPECT_EQ(a.staged(), 0u);
  EXPECT_EQ(a.messages(), 5u);
  EXPECT_EQ(fs::file_size(files[0]), a.bytes());
  EXPECT_EQ(timestamps(a.query(0, 100, {"p"}, 100)), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  ASSERT_TRUE(a.commit());  // nothing staged: nothing written
  EXPECT_EQ(fs::file_size(files[0]), a.bytes());
  // Another process's view of the file (the page cache, as after kill -9): all five.
  fs::create_directories(d.archive() + "-copy");
  fs::copy_file(files[0], d.archive() + "-copy/" + fs::path(files[0]).filename().string(),
                fs::copy_options::overwrite_existing);
  message_archive c(d.archive() + "-copy", 1'000'000);
  EXPECT_EQ(timestamps(c.query(0, 100, {"p"}, 100)), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(c.recovered_bytes_discarded(), 0u);
}

// Staging across a segment boundary commits what came before; nothing is lost or reordered.
TEST(message_archive, StagingAcrossSegmentsKeepsEveryMessage) {
  archive_dir d;
  {
    message_archive a(d.archive(), 1'000'000);  // segments of 62,500 bytes
    for (int64_t t = 0; t < 300; ++t) {
      ASSERT_TRUE(a.stage(make_message("p", t, 1000)));
      if (t % 37 == 36) {
        ASSERT_TRUE(a.commit());
      }
    }
    ASSERT_TRUE(a.commit());
    EXPECT_EQ(a.messages(), 300u);
  }
  EXPECT_GT(segment_files(d.archive()).size(), 3u);
  message_archive a(d.archive(), 1'000'000);
  auto all = timestamps(a.query(0, 1000, {"p"}, 1000));
  ASSERT_EQ(all.size(), 300u);
  for (int64_t t = 0; t < 300; ++t) EXPECT_EQ(all[static_cast<size_t>(t)], t);
  EXPECT_EQ(a.recovered_bytes_discarded(), 0u);
}

// A real crash: a child process stages batches of 1-40 messages, commits each batch and then
// reports its messages on a pipe (as the local API sends receipts after the commit); the parent
// SIGKILLs it in the middle. Everything reported (= acknowledged) must be readable.
TEST(message_archive, MessagesCommittedBeforeSigkillSurvive) {
  archive_dir d;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    message_archive a(d.archive(), 2'000'000);
    for (int64_t t = 0;;) {
      int64_t batch_end = t + 1 + t % 40;
      for (int64_t u = t; u < batch_end; ++u) {
        if (!a.stage(make_message("p", u, 700))) ::_exit(3);
      }
      if (!a.commit()) ::_exit(5);
      for (; t < batch_end; ++t) {
        if (::write(fds[1], &t, sizeof t) != sizeof t) ::_exit(4);
      }
    }
  }
  ::close(fds[1]);
  int64_t acknowledged = -1, t = 0;
  while (acknowledged < 5000 && ::read(fds[0], &t, sizeof t) == sizeof t) acknowledged = t;
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_GE(acknowledged, 5000);

  message_archive a(d.archive(), 2'000'000);
  auto all = timestamps(a.query(0, acknowledged, {"p"}, 1'000'000));
  ASSERT_FALSE(all.empty());
  // The bound dropped the oldest; from the first kept one to the last acknowledged, none is
  // missing or damaged.
  EXPECT_EQ(all.back(), acknowledged);
  for (size_t i = 1; i < all.size(); ++i) ASSERT_EQ(all[i], all[i - 1] + 1);
}

}  // namespace
}  // namespace fogmesh::agent
