// Proton C++ interop client: connects to URL, attaches a receiver and a sender on ADDRESS,
// sends COUNT unsettled messages, and checks that each arrives once, in order, and that the
// sender gets `accepted` for every one. Exit 0 on success, 1 on failure.
//
//   interop_cpp_client URL [ADDRESS] [COUNT]
// Run by test_cpp_client.py, which starts the router.
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/duration.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

class client : public proton::messaging_handler {
 public:
  client(std::string url, std::string address, int count)
      : url_(std::move(url)), address_(std::move(address)), count_(count) {}

  bool ok() const {
    return !failed_ && received_ == count_ && accepted_ == count_ && other_ == 0 &&
           out_of_order_ == 0;
  }
  void report() const {
    std::printf("sent %d received %d accepted %d other-outcomes %d out-of-order %d%s%s\n", sent_,
                received_, accepted_, other_, out_of_order_, failed_ ? " error: " : "",
                error_.c_str());
  }

  void on_container_start(proton::container& c) override {
    connection_ = c.connect(url_, proton::connection_options().idle_timeout(
                                      proton::duration(30000)));
    // No in-process timeout: a pending container.schedule() keeps run() from returning after
    // the connection closes; test_cpp_client.py kills the client after a generous deadline.
  }

  void on_connection_open(proton::connection& conn) override {
    conn.open_receiver(address_, proton::receiver_options().credit_window(200));
  }

  void on_receiver_open(proton::receiver& r) override {
    if (!sender_opened_) {
      sender_opened_ = true;
      r.connection().open_sender(address_);
    }
  }

  void on_sendable(proton::sender& s) override {
    while (s.credit() > 0 && sent_ < count_) {
      proton::message m;
      m.body(std::string("message-") + std::to_string(sent_));
      m.properties().put("seq", sent_);
      s.send(m);
      ++sent_;
    }
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    const int seq = proton::get<int>(m.properties().get("seq"));
    const auto body = proton::get<std::string>(m.body());
    if (seq != received_ || body != "message-" + std::to_string(seq)) ++out_of_order_;
    ++received_;
    (void)d;  // auto-accept (default)
    maybe_done();
  }

  void on_tracker_accept(proton::tracker&) override {
    ++accepted_;
    maybe_done();
  }
  void on_tracker_reject(proton::tracker&) override { ++other_; }
  void on_tracker_release(proton::tracker&) override { ++other_; }

  // Stop once the connection is gone (error paths included).
  void on_transport_close(proton::transport& t) override { t.connection().container().stop(); }
  void on_transport_error(proton::transport& t) override {
    fail(t.error().what());
    t.connection().container().stop();
  }
  void on_connection_error(proton::connection& c) override { fail(c.error().what()); }
  void on_sender_error(proton::sender& s) override { fail(s.error().what()); }
  void on_receiver_error(proton::receiver& r) override { fail(r.error().what()); }

 private:
  void maybe_done() {
    if (!done_ && received_ == count_ && accepted_ == count_) {
      done_ = true;
      connection_.close();
    }
  }
  void fail(const std::string& what) {
    if (done_) return;
    failed_ = true;
    error_ = what;
    done_ = true;
    connection_.close();
  }

  std::string url_, address_;
  int count_;
  proton::connection connection_;
  bool sender_opened_ = false, done_ = false, failed_ = false;
  int sent_ = 0, received_ = 0, accepted_ = 0, other_ = 0, out_of_order_ = 0;
  std::string error_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s URL [ADDRESS] [COUNT]\n", argv[0]);
    return 2;
  }
  client h(argv[1], argc > 2 ? argv[2] : "cpp.interop", argc > 3 ? std::atoi(argv[3]) : 1000);
  try {
    proton::container(h, "fogmesh-interop-cpp").run();
  } catch (const std::exception& e) {
    std::printf("exception: %s\n", e.what());
    h.report();
    return 1;
  }
  h.report();
  return h.ok() ? 0 : 1;
}
