// A small AMQP management client for the agent's own fogmesh-router: CREATE and DELETE of
// configuration entities on `$management` (qdrouterd's protocol: application properties
// operation/type/name, a map body, the answer's statusCode/statusDescription on a dynamic
// reply-to). Built on Qpid Proton C++, whose container runs its own event loop: each batch runs
// on a short-lived worker thread and the awaiting coroutine resumes on the agent's loop thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace fogmesh::agent {

struct management_op {
  std::string operation;  // CREATE | DELETE
  std::string type;       // entity type without prefix: listener, tcpListener, router.config.address
  std::string name;
  boost::json::object attributes;  // CREATE body
};

struct management_result {
  int status = 0;  // 201, 204, ... ; 0 = no answer
  std::string description;
};

struct management_outcome {
  std::string error;  // connection failed / timed out (then results is incomplete)
  std::vector<management_result> results;
  bool ok() const;  // no error and every answer 2xx
};

// Runs the batch in order, one request after the other, on the calling thread. Never throws.
management_outcome run_management_batch(const std::string& url, const std::vector<management_op>& ops,
                                        std::chrono::milliseconds timeout);

// Owns the worker thread of at most one batch at a time; the destructor joins it.
class management_runner {
 public:
  explicit management_runner(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  ~management_runner();
  management_runner(const management_runner&) = delete;
  management_runner& operator=(const management_runner&) = delete;

  boost::asio::awaitable<management_outcome> run(std::string url, std::vector<management_op> ops,
                                                 std::chrono::milliseconds timeout);

 private:
  boost::asio::any_io_executor ex_;
  std::thread worker_;
};

}  // namespace fogmesh::agent
