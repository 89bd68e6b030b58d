#include "message_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "fogmesh/agent/config_store.hpp"
#include "fogmesh/common/log.hpp"

namespace fogmesh::agent {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

auto logger() {
  static auto l = log::get("agent.archive");
  return l;
}

constexpr size_t record_header_size = 17;  // length 4, crc 4, timestamp 8, format 1
constexpr uint8_t format_binary = 1;
constexpr uint8_t format_json = 2;
// Above the local API's largest accepted message: a longer length can only be a torn header.
constexpr uint32_t max_payload_bytes = 80u * 1024 * 1024;
constexpr uint64_t min_segment_bytes = 16 * 1024;
constexpr uint64_t max_segment_bytes = 64 * 1024 * 1024;
constexpr size_t read_chunk_bytes = 256 * 1024;

void put_le(uint8_t* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t get_le(const uint8_t* in, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

// CRC-32 (IEEE 802.3, reflected, as zlib and boost::crc_32_type compute it), eight bytes per
// step ("slicing-by-8"): the byte-at-a-time table was the largest user-space cost on the
// message socket path's loop thread (≈10 % of it at 1 KiB per message).
struct crc_tables {
  uint32_t t[8][256];
  constexpr crc_tables() : t{} {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? 0xEDB88320u : 0);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr crc_tables crc_table;

uint32_t crc32_update(uint32_t crc, const uint8_t* p, size_t n) {
  crc = ~crc;
  const auto& t = crc_table.t;
  while (n >= 8) {
    uint32_t lo = crc ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 |
                         uint32_t{p[3]} << 24);
    uint32_t hi = uint32_t{p[4]} | uint32_t{p[5]} << 8 | uint32_t{p[6]} << 16 |
                  uint32_t{p[7]} << 24;
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFF];
  return ~crc;
}

uint32_t record_crc(const uint8_t* timestamp_and_rest, size_t size) {
  return crc32_update(0, timestamp_and_rest, size);
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Sequential reader of one segment's records through a buffer, up to `limit` bytes of the file.
class record_reader {
 public:
  enum class status { record, end, torn };

  record_reader(int fd, uint64_t limit) : fd_(fd), limit_(limit) {}

  status next() {
    if (!fill(record_header_size)) return buffered() == 0 ? status::end : status::torn;
    const uint8_t* h = buf_.data() + begin_;
    auto length = static_cast<uint32_t>(get_le(h, 4));
    auto crc = static_cast<uint32_t>(get_le(h + 4, 4));
    if (length > max_payload_bytes) return status::torn;
    if (!fill(record_header_size + length)) return status::torn;
    h = buf_.data() + begin_;
    if (record_crc(h + 8, record_header_size - 8 + length) != crc) return status::torn;
    uint8_t format = h[16];
    if (format != format_binary && format != format_json) return status::torn;
    timestamp = static_cast<int64_t>(get_le(h + 8, 8));
    this->format = format;
    payload = std::span<const uint8_t>(h + record_header_size, length);
    begin_ += record_header_size + length;
    return status::record;
  }

  // File offset just past the last record next() returned.
  uint64_t offset() const { return buf_offset_ + begin_; }

  int64_t timestamp = 0;
  uint8_t format = 0;
  std::span<const uint8_t> payload;

 private:
  size_t buffered() const { return buf_.size() - begin_; }

  // Makes `need` bytes available from the cursor; false at the end of the file (or limit).
  bool fill(size_t need) {
    if (buffered() >= need) return true;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(begin_));
    buf_offset_ += begin_;
    begin_ = 0;
    while (buf_.size() < need) {
      uint64_t file_pos = buf_offset_ + buf_.size();
      if (file_pos >= limit_) return false;
      size_t want = static_cast<size_t>(
          std::min<uint64_t>(std::max(need - buf_.size(), read_chunk_bytes), limit_ - file_pos));
      size_t old = buf_.size();
      buf_.resize(old + want);
      ssize_t n = ::pread(fd_, buf_.data() + old, want, static_cast<off_t>(file_pos));
      if (n < 0 && errno == EINTR) {
        buf_.resize(old);
        continue;
      }
      if (n < 0) throw_errno("reading the message archive");
      buf_.resize(old + static_cast<size_t>(n));
      if (n == 0) return false;
    }
    return true;
  }

  int fd_;
  uint64_t limit_;
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;
  uint64_t buf_offset_ = 0;  // file offset of buf_[0]
};

iomessage_decode_result decode_payload(uint8_t format, std::span<const uint8_t> payload) {
  if (format == format_binary) return decode_binary(payload);
  return decode_json(
      std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
}

class file_handle {
 public:
  explicit file_handle(int fd) : fd_(fd) {}
  ~file_handle() {
    if (fd_ >= 0) ::close(fd_);
  }
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

message_archive::message_archive(std::string dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  recover();
}

message_archive::~message_archive() {
  commit();
  if (active_fd_ >= 0) {
    ::fdatasync(active_fd_);
    ::close(active_fd_);
  }
}

std::string message_archive::segment_path(const segment& s) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seg",
                static_cast<unsigned long long>(s.first_sequence));
  return dir_ + "/" + name;
}

std::string message_archive::index_path(const segment& s) const {
  auto p = segment_path(s);
  return p.substr(0, p.size() - 4) + ".idx";
}

uint64_t message_archive::segment_limit() const {
  // About 16 segments per bound: dropping the oldest frees ~1/16 of it at a time, and a large
  // bound (50 GB by default) still has segments small enough to scan for a query.
  return std::clamp(max_bytes_ / 16, min_segment_bytes, max_segment_bytes);
}

uint64_t message_archive::messages() const {
  uint64_t n = 0;
  for (const auto& s : segments_) n += s.count;
  return n;
}

void message_archive::recover() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::system_error(ec, "creating the message archive " + dir_);
  ::chmod(dir_.c_str(), 0700);
  std::vector<uint64_t> firsts;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    auto name = entry.path().filename().string();
    if (name.size() == 20 && name.ends_with(".seg")) {
      try {
        firsts.push_back(std::stoull(name.substr(0, 16), nullptr, 16));
      } catch (const std::exception&) {
        logger()->warn("ignoring {} in the message archive: not a segment name", name);
      }
    } else if (name.ends_with(".tmp")) {
      fs::remove(entry.path(), ec);  // an index write interrupted by a crash
    }
  }
  std::sort(firsts.begin(), firsts.end());
  for (size_t i = 0; i < firsts.size(); ++i) {
    segment s;
    s.first_sequence = firsts[i];
    bool last = i + 1 == firsts.size();
    if (last || !load_index(s)) {
      scan(s);
      if (!last) write_index(s);
    }
    segments_.push_back(std::move(s));
  }
  for (const auto& s : segments_) total_bytes_ += s.bytes;
  if (!segments_.empty()) {
    const auto& last = segments_.back();
    next_sequence_ = last.first_sequence + last.count;
    // Appending resumes in the last segment; an index it may carry from an earlier seal is
    // stale from the next append on.
    fs::remove(index_path(last), ec);
    active_fd_ = ::open(segment_path(last).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (active_fd_ < 0) throw_errno("opening " + segment_path(last));
  } else {
    open_active();
  }
  enforce_bound(0);
  if (segments_.size() > 1 || segments_.back().count > 0) {
    logger()->info("message archive {}: {} message(s), {} bytes in {} segment(s), bound {} bytes",
                   dir_, messages(), total_bytes_, segments_.size(), max_bytes_);
  }
}

void message_archive::scan(segment& s) {
  auto path = segment_path(s);
  file_handle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("opening " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_errno("stat " + path);
  auto size = static_cast<uint64_t>(st.st_size);
  record_reader reader(fd.get(), size);
  s.count = 0;
  s.publishers.clear();
  while (reader.next() == record_reader::status::record) {
    if (s.count == 0 || reader.timestamp < s.min_timestamp) s.min_timestamp = reader.timestamp;
    if (s.count == 0 || reader.timestamp > s.max_timestamp) s.max_timestamp = reader.timestamp;
    ++s.count;
    auto m = decode_payload(reader.format, reader.payload);
    if (m) s.publishers.insert(m.message.publisher);
  }
  s.bytes = reader.offset();
  if (s.bytes < size) {
    // A record cut short by a crash (or damaged since): everything from it on is unreadable,
    // and appending after it would hide the records that follow.
    logger()->warn(
        "message archive {}: discarding {} torn/corrupt byte(s) at offset {} (after {} good "
        "record(s))",
        path, size - s.bytes, s.bytes, s.count);
    discarded_bytes_ += size - s.bytes;
    if (::truncate(path.c_str(), static_cast<off_t>(s.bytes)) != 0)
      throw_errno("truncating " + path);
  }
}

bool message_archive::load_index(segment& s) const {
  auto text = read_file(index_path(s));
  if (!text) return false;
  std::error_code ec;
  auto size = fs::file_size(segment_path(s), ec);
  if (ec) return false;
  boost::system::error_code jec;
  auto v = json::parse(*text, jec);
  if (jec || !v.is_object()) return false;
  try {
    const auto& o = v.as_object();
    if (o.at("bytes").to_number<uint64_t>() != size) return false;  // appended after the seal
    s.bytes = size;
    s.count = o.at("count").to_number<uint64_t>();
    s.min_timestamp = o.at("minTimestamp").to_number<int64_t>();
    s.max_timestamp = o.at("maxTimestamp").to_number<int64_t>();
    for (const auto& p : o.at("publishers").as_array()) s.publishers.emplace(p.as_string());
  } catch (const std::exception&) {
    s.publishers.clear();
    return false;
  }
  return true;
}

void message_archive::write_index(const segment& s) const {
  json::array publishers;
  for (const auto& p : s.publishers) publishers.emplace_back(p);
  json::object o{{"bytes", s.bytes},
                 {"count", s.count},
                 {"minTimestamp", s.min_timestamp},
                 {"maxTimestamp", s.max_timestamp},
                 {"publishers", std::move(publishers)}};
  try {
    write_file_atomic(index_path(s), json::serialize(o), 0600);
  } catch (const std::exception& e) {
    // Only costs a scan of this segment at the next start.
    logger()->warn("message archive: cannot write {}: {}", index_path(s), e.what());
  }
}

void message_archive::open_active() {
  segment s;
  s.first_sequence = next_sequence_;
  auto path = segment_path(s);
  active_fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (active_fd_ < 0) throw_errno("creating " + path);
  segments_.push_back(std::move(s));
}

void message_archive::seal_active() {
  if (active_fd_ >= 0) {
    // Start the write-back without waiting for it: an fdatasync of a 64 MiB segment stalled
    // the loop thread (and every message behind it) for a noticeable time.
    ::sync_file_range(active_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
    ::close(active_fd_);
    active_fd_ = -1;
  }
  write_index(segments_.back());
}

void message_archive::drop_oldest() {
  const auto& s = segments_.front();
  std::error_code ec;
  fs::remove(index_path(s), ec);
  fs::remove(segment_path(s), ec);
  if (ec) logger()->warn("message archive: cannot remove {}: {}", segment_path(s), ec.message());
  total_bytes_ -= s.bytes;
  dropped_ += s.count;
  segments_.erase(segments_.begin());
}

void message_archive::enforce_bound(uint64_t incoming) {
  while (total_bytes_ + incoming > max_bytes_ && !segments_.empty()) {
    if (segments_.size() == 1) {
      if (segments_.front().count == 0) break;
      // Only the active segment is left and it is too big for the bound: seal it and start a
      // new one, so that it can go as a whole like any other.
      seal_active();
      open_active();
    }
    drop_oldest();
  }
}

void message_archive::set_max_bytes(uint64_t max_bytes) {
  if (max_bytes == max_bytes_) return;
  commit();
  logger()->info("message archive bound: {} bytes (was {})", max_bytes, max_bytes_);
  max_bytes_ = max_bytes;
  enforce_bound(0);
}

bool message_archive::append(const io_message& message) {
  return stage(message) && commit();
}

bool message_archive::stage(const io_message& message) {
  if (max_bytes_ == 0 || active_fd_ < 0) return false;
  uint8_t format = format_binary;
  auto binary = encode_binary(message);
  std::string text;
  std::span<const uint8_t> payload;
  if (binary) {
    payload = *binary;
  } else {
    // A field too long for the binary form's length slots: the JSON form has no such limit.
    format = format_json;
    text = encode_json(message);
    payload = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }
  uint64_t record_bytes = record_header_size + payload.size();
  if (payload.size() > max_payload_bytes || record_bytes > max_bytes_ / 2) {
    ++failed_;
    logger()->debug("message {} ({} bytes) is too large for the archive bound {}", message.id,
                    record_bytes, max_bytes_);
    return false;
  }
  // What is staged goes into the active segment as it is: when this record would push it past
  // the segment or the whole bound, write what is staged first, then seal/drop as one append.
  if (!staged_.empty() &&
      (segments_.back().bytes + staged_.size() + record_bytes > segment_limit() ||
       total_bytes_ + staged_.size() + record_bytes > max_bytes_)) {
    commit();
  }
  if (staged_.empty()) {
    auto& active = segments_.back();
    if (active.bytes > 0 && active.bytes + record_bytes > segment_limit()) {
      seal_active();
      open_active();
    }
    enforce_bound(record_bytes);
  }

  uint8_t header[record_header_size];
  put_le(header + 8, static_cast<uint64_t>(message.timestamp), 8);
  header[16] = format;
  uint32_t crc = crc32_update(0, header + 8, record_header_size - 8);
  crc = crc32_update(crc, payload.data(), payload.size());
  put_le(header, payload.size(), 4);
  put_le(header + 4, crc, 4);
  staged_.insert(staged_.end(), header, header + record_header_size);
  staged_.insert(staged_.end(), payload.begin(), payload.end());

  // The summary may name a publisher or time whose record a failed write loses again: a
  // query then reads that segment for nothing, never misses one.
  auto& seg = segments_.back();
  bool first = seg.count + staged_count_ == 0;
  if (first || message.timestamp < seg.min_timestamp) seg.min_timestamp = message.timestamp;
  if (first || message.timestamp > seg.max_timestamp) seg.max_timestamp = message.timestamp;
  if (first || message.publisher != last_publisher_) {
    seg.publishers.insert(message.publisher);
    last_publisher_ = message.publisher;
  }
  ++staged_count_;
  return true;
}

bool message_archive::commit() {
  if (staged_.empty()) return true;
  auto& seg = segments_.back();
  uint64_t size = staged_.size();
  uint64_t written = 0;
  while (written < size) {
    ssize_t n = ::write(active_fd_, staged_.data() + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      // Cut the partial records off again, so the next append does not land behind garbage.
      if (::ftruncate(active_fd_, static_cast<off_t>(seg.bytes)) != 0) {
        logger()->error("message archive: cannot cut a failed write off {}: {}", segment_path(seg),
                        std::strerror(errno));
      }
      failed_ += staged_count_;
      if (!write_error_logged_) {
        logger()->error(
            "message archive: writing {} failed: {} (messages are delivered but not archived)",
            segment_path(seg), std::strerror(err));
      }
      write_error_logged_ = true;
      staged_.clear();
      staged_count_ = 0;
      return false;
    }
    written += static_cast<uint64_t>(n);
  }
  if (write_error_logged_) logger()->info("message archive: writing works again");
  write_error_logged_ = false;
  seg.count += staged_count_;
  seg.bytes += size;
  total_bytes_ += size;
  next_sequence_ += staged_count_;
  staged_count_ = 0;
  // Keep the buffer's capacity for the next batch unless one large message blew it up.
  if (staged_.capacity() > 4 * 1024 * 1024) {
    std::vector<uint8_t>().swap(staged_);
  } else {
    staged_.clear();
  }
  return true;
}

message_archive::query_result message_archive::query(int64_t start, int64_t end,
                                                     const std::set<std::string>& publishers,
                                                     size_t max_messages) const {
  query_result out;
  for (const auto& s : segments_) {
    if (s.count == 0 || s.max_timestamp < start || s.min_timestamp > end) continue;
    if (std::none_of(publishers.begin(), publishers.end(),
                     [&](const auto& p) { return s.publishers.count(p); })) {
      continue;
    }
    auto path = segment_path(s);
    file_handle fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      logger()->warn("message archive: cannot read {}: {}", path, std::strerror(errno));
      continue;
    }
    record_reader reader(fd.get(), s.bytes);
    while (reader.next() == record_reader::status::record) {
      if (reader.timestamp < start || reader.timestamp > end) continue;
      auto m = decode_payload(reader.format, reader.payload);
      if (!m || !publishers.count(m.message.publisher)) continue;
      if (out.messages.size() == max_messages) {
        out.truncated = true;
        return out;
      }
      out.messages.push_back(std::move(m.message));
    }
  }
  return out;
}

void message_archive::sync() {
  commit();
  if (active_fd_ >= 0) ::fdatasync(active_fd_);
}

}  // namespace fogmesh::agent
