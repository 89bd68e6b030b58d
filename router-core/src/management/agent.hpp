// The management agent: AMQP Management (draft 9) on `$management` and `_local/$management`,
// with qdrouterd's entity type names and attribute names so qdstat/qdmanage-style tools work.
// One agent runs on every shard (a client's request is served by the shard its connection is
// on); router-wide answers (connections, links, addresses, counters) are gathered from every
// shard with tasks and answered when the last shard has replied.
//
// Operations: QUERY, READ, CREATE, DELETE, GET-TYPES, GET-ATTRIBUTES, GET-OPERATIONS,
// GET-MGMT-NODES. CREATE/DELETE take effect at once for listener, connector,
// router.config.address and the adaptor entities (tcpListener, httpConnector, ... when the
// proxy adaptors are registered); other configuration types are answered 501 until they can
// change at run time.
//
// Thread: the owning shard's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "amqp/codec.hpp"
#include "management/value.hpp"
#include "routing/local_endpoint.hpp"

namespace fogmesh::router {
class shard;
}

namespace fogmesh::router::management {

struct request {
  std::string operation;
  std::string type;         // full or short entity type name; "" when absent
  std::string entity_type;  // QUERY's entityType
  std::string name;
  std::string identity;
  value_map properties;     // application properties as sent
  value body;
  std::string reply_to;
  amqp::byte_buffer correlation;  // encoded correlation-id (or message-id) to echo; may be empty
};

struct response {
  int status = 200;
  std::string description = "OK";
  value body;
};

// Parses a complete request message. On a malformed message returns a 400 response instead.
std::variant<request, response> parse_request(amqp::bytes_view message);
// Encodes the reply message for req.
amqp::byte_buffer encode_response(const request& req, const response& res);

class agent final : public local_endpoint::handler {
 public:
  explicit agent(shard& owner);
  ~agent();
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

 private:
  void on_readable(link& l) override;
  void on_sendable(link& l) override;
  void on_detached(link& l, const amqp::error* err) override;

  void handle(request req);
  void answer(const request& req, response res);
  void send_pending();

  shard& owner_;
  local_endpoint& endpoint_;
  link* receivers_[3] = {nullptr, nullptr, nullptr};
  link* replies_ = nullptr;  // anonymous sender: routes each reply by its `to`
  std::deque<amqp::byte_buffer> outbox_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fogmesh::router::management
