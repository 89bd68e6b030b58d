// The local archive of published ioMessages behind /v2/messages/query: an append-only log of
// segment files in one directory, bounded in bytes (the controller's `diskLimit`, GB), the
// oldest segment deleted first when a new message would exceed the bound.
//
// On disk (`<dir>/<first sequence, 16 hex>.seg`), each record is
//   u32 payload length | u32 CRC-32 of the rest | i64 timestamp | u8 format | payload
// (little-endian; format 1 = ioFog binary form, 2 = JSON form for messages whose fields do not
// fit the binary form's length slots). Records are staged in memory (stage()) and written with
// one write(2) per batch (commit()); a message the local API acknowledges has been committed
// first, so it survives kill -9 of the agent (the page cache holds it). A staged, uncommitted
// record is not durable: kill -9 loses it (its publisher has no receipt yet). append() = stage +
// commit. The write-back of a sealed segment is started at once
// (sync_file_range), the active one is fdatasync'ed on close: a power loss may lose the last
// messages the kernel had not written yet (what survives is still checked record by record). A torn
// or corrupt record (a crash inside write(2), a zero-filled block) fails its length or CRC check:
// recovery truncates the segment there and appending continues after the last good record.
//
// A sealed segment gets a small index file (`.idx`: byte size, count, time range, publishers)
// so that start-up reads only the active segment, and a query reads only the segments whose
// time range and publishers can match — nothing per message is kept in memory.
//
// Owned and called by the daemon's loop thread only. commit() and query() do blocking file
// I/O: one write(2) per batch of staged messages, and for a query sequential reads of the
// matching segments.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "fogmesh/agent/iomessage.hpp"

namespace fogmesh::agent {

class message_archive {
 public:
  // Opens (creating it 0700) the archive in `dir` and recovers what is there; max_bytes 0
  // disables archiving (nothing is written, queries find nothing). Throws std::system_error
  // when the directory cannot be created or read.
  message_archive(std::string dir, uint64_t max_bytes);
  ~message_archive();
  message_archive(const message_archive&) = delete;
  message_archive& operator=(const message_archive&) = delete;

  // A new bound; a smaller one drops the oldest segments at once.
  void set_max_bytes(uint64_t max_bytes);

  // Stages `message` (its id and timestamp already assigned) for the next commit(). False when
  // it will not be archived: archiving is off or the message is larger than half the bound.
  // Staging may commit what was staged before (when this record starts a new segment or needs
  // old segments dropped).
  bool stage(const io_message& message);
  // Writes every staged record with one write(2) (the page cache has them when it returns: they
  // survive kill -9 of this process). False when the write failed (logged, counted in failed();
  // the partial records are cut off again). Nothing staged: true.
  bool commit();
  // stage() + commit().
  bool append(const io_message& message);
  // Messages staged and not yet committed.
  size_t staged() const { return staged_count_; }

  struct query_result {
    std::vector<io_message> messages;  // in archive (publish) order
    bool truncated = false;            // more matched than max_messages
  };
  // Messages from any of `publishers` with start <= timestamp <= end (committed ones only).
  query_result query(int64_t start, int64_t end, const std::set<std::string>& publishers,
                     size_t max_messages) const;

  // Commits, then flushes the active segment to stable storage (fdatasync).
  void sync();

  uint64_t bytes() const { return total_bytes_; }
  uint64_t messages() const;
  uint64_t max_bytes() const { return max_bytes_; }
  // Messages deleted to stay within the bound since start.
  uint64_t dropped() const { return dropped_; }
  // Messages not archived (too large, write failures) since start.
  uint64_t failed() const { return failed_; }
  // Torn or corrupt bytes cut off during recovery.
  uint64_t recovered_bytes_discarded() const { return discarded_bytes_; }
  const std::string& dir() const { return dir_; }

 private:
  struct segment {
    uint64_t first_sequence = 0;
    uint64_t bytes = 0;
    uint64_t count = 0;
    int64_t min_timestamp = 0;
    int64_t max_timestamp = 0;
    std::set<std::string> publishers;
  };

  std::string segment_path(const segment& s) const;
  std::string index_path(const segment& s) const;
  void recover();
  // Reads every record of `s`'s file, fills its summary and cuts a torn tail off.
  void scan(segment& s);
  bool load_index(segment& s) const;
  void write_index(const segment& s) const;
  void open_active();
  void seal_active();
  void drop_oldest();
  void enforce_bound(uint64_t incoming);
  uint64_t segment_limit() const;

  std::string dir_;
  uint64_t max_bytes_;
  std::vector<segment> segments_;  // oldest first; the last one is the active segment
  int active_fd_ = -1;
  uint64_t next_sequence_ = 0;
  uint64_t total_bytes_ = 0;
  uint64_t dropped_ = 0;
  uint64_t failed_ = 0;
  uint64_t discarded_bytes_ = 0;
  bool write_error_logged_ = false;
  std::vector<uint8_t> staged_;  // records of the next commit(), back to back
  size_t staged_count_ = 0;
  std::string last_publisher_;  // saves a set lookup per staged message of one publisher
};

}  // namespace fogmesh::agent
