#include "management/agent.hpp"

#include <algorithm>
#include <mutex>

#include "amqp/performatives.hpp"
#include "engine/amqp_connection.hpp"
#include "fogmesh/common/log.hpp"
#include "fogmesh/router/version.hpp"
#include "management/entities.hpp"
#include "server/shard.hpp"

namespace fogmesh::router::management {

namespace {

const std::shared_ptr<spdlog::logger>& logger() {
  static const auto l = log::get("router.management");
  return l;
}

response error_response(int status, std::string description) {
  response r;
  r.status = status;
  r.description = std::move(description);
  return r;
}

std::string text_of(const value_map& m, std::string_view key) {
  const value* v = find(m, key);
  return v != nullptr ? v->to_text() : std::string();
}

// properties: message-id, user-id, to, subject, reply-to, correlation-id, ... (part 3 §3.2.4)
void read_properties(amqp::bytes_view section, request& req) {
  amqp::decoder in(section);
  if (!in.read_descriptor()) return;
  auto list = in.read_list();
  if (!list) return;
  amqp::decoder& f = list->elements;
  amqp::bytes_view message_id, correlation_id;
  for (std::uint32_t i = 0; i < list->count && i < 6; ++i) {
    if (f.next_is_null()) {
      (void)f.read_null();
      continue;
    }
    if (i == 4) {
      auto v = decode(f);
      if (!v) return;
      req.reply_to = v->to_text();
      continue;
    }
    auto raw = f.skip_value();
    if (!raw) return;
    if (i == 0) message_id = *raw;
    if (i == 5) correlation_id = *raw;
  }
  // AMQP Management: the response's correlation-id is the request's correlation-id when it
  // has one (qdmanage, Proton's RequestResponse), else its message-id.
  const amqp::bytes_view echo = !correlation_id.empty() ? correlation_id : message_id;
  req.correlation.assign(echo.begin(), echo.end());
}

}  // namespace

std::variant<request, response> parse_request(amqp::bytes_view message) {
  request req;
  amqp::decoder in(message);
  while (!in.at_end()) {
    const std::size_t start = in.position();
    auto desc = in.read_descriptor();
    if (!desc || desc->is_symbol()) return error_response(400, "malformed message sections");
    auto v = in.skip_value();
    if (!v) return error_response(400, "malformed message sections");
    const amqp::bytes_view section = message.subspan(start, in.position() - start);
    switch (desc->code) {
      case amqp::descriptor_code::properties:
        read_properties(section, req);
        break;
      case amqp::descriptor_code::application_properties: {
        amqp::decoder body(*v);
        auto props = decode(body);
        if (!props || props->map() == nullptr) {
          return error_response(400, "application-properties is not a map");
        }
        req.properties = *props->map();
        break;
      }
      case amqp::descriptor_code::amqp_value: {
        amqp::decoder body(*v);
        auto b = decode(body);
        if (!b) return error_response(400, "malformed amqp-value body");
        req.body = std::move(*b);
        break;
      }
      default:
        break;  // header, annotations, data bodies, footer: not used by management
    }
  }
  req.operation = text_of(req.properties, "operation");
  req.type = text_of(req.properties, "type");
  req.entity_type = text_of(req.properties, "entityType");
  req.name = text_of(req.properties, "name");
  req.identity = text_of(req.properties, "identity");
  if (req.operation.empty()) return error_response(400, "no operation given");
  return req;
}

amqp::byte_buffer encode_response(const request& req, const response& res) {
  amqp::byte_buffer out;
  amqp::encoder e(out);
  e.write_descriptor(amqp::descriptor_code::properties);
  std::size_t list = e.begin_list();
  e.write_null();                   // message-id
  e.write_null();                   // user-id
  e.write_string(req.reply_to);     // to
  e.write_null();                   // subject
  e.write_null();                   // reply-to
  if (req.correlation.empty()) {
    e.write_null();
  } else {
    e.write_raw(req.correlation);
  }
  e.end_list(list, 6);
  e.write_descriptor(amqp::descriptor_code::application_properties);
  std::size_t map = e.begin_map();
  e.write_string("statusCode");
  e.write_int(res.status);
  e.write_string("statusDescription");
  e.write_string(res.description);
  e.end_map(map, 4);
  e.write_descriptor(amqp::descriptor_code::amqp_value);
  encode(e, res.body);
  return out;
}

// ---- the agent -----------------------------------------------------------------------------

agent::agent(shard& owner) : owner_(owner), endpoint_(owner.make_endpoint("$management")) {
  // _topo/0/<id>/$management: reachable from anywhere in the mesh (advertised like any
  // address with a consumer), so tools can ask a remote router.
  const std::string addresses[3] = {"$management", "_local/$management",
                                    "_topo/0/" + owner.router_id() + "/$management"};
  for (int i = 0; i < 3; ++i) {
    amqp::error err;
    receivers_[i] = endpoint_.open_receiver(addresses[i], *this, 64, false, &err);
    if (receivers_[i] == nullptr) {
      logger()->warn("management unavailable on {}: {}", addresses[i], err.description);
    }
  }
  replies_ = endpoint_.open_sender("", *this);
}

agent::~agent() { *alive_ = false; }

void agent::on_readable(link& l) {
  auto& deliveries = endpoint_.incoming(l);
  while (!deliveries.empty() && deliveries.front().complete) {
    local_endpoint::incoming_delivery d = std::move(deliveries.front());
    deliveries.pop_front();
    if (d.aborted) continue;
    amqp::delivery_state accepted;
    accepted.type = amqp::delivery_state::kind::accepted;
    if (!d.presettled) endpoint_.settle(l, d.id, accepted);
    auto parsed = parse_request(d.bytes);
    if (auto* bad = std::get_if<response>(&parsed)) {
      request none;
      answer(none, std::move(*bad));
      continue;
    }
    handle(std::move(std::get<request>(parsed)));
  }
  // Keep the window open: one credit per request taken.
  endpoint_.set_credit(l, 64);
}

void agent::on_sendable(link&) { send_pending(); }

void agent::on_detached(link& l, const amqp::error*) {
  for (auto*& r : receivers_) {
    if (r == &l) r = nullptr;
  }
  if (replies_ == &l) replies_ = nullptr;
  endpoint_.close(l);
}

void agent::answer(const request& req, response res) {
  if (req.reply_to.empty()) return;  // nobody to tell (qdrouterd drops these too)
  outbox_.push_back(encode_response(req, res));
  send_pending();
}

void agent::send_pending() {
  while (replies_ != nullptr && !outbox_.empty() && endpoint_.can_start(*replies_)) {
    endpoint_.send(*replies_, outbox_.front(), true, false, true);
    outbox_.pop_front();
  }
}

void agent::handle(request req) {
  logger()->debug("{} type={} name={} identity={}", req.operation, req.type, req.name,
                  req.identity);
  const std::string& op = req.operation;
  if (op == "GET-TYPES") return answer(req, {200, "OK", type_catalogue()});
  if (op == "GET-ATTRIBUTES") return answer(req, {200, "OK", attribute_catalogue()});
  if (op == "GET-OPERATIONS") return answer(req, {200, "OK", operation_catalogue()});
  if (op == "GET-MGMT-NODES") return answer(req, {200, "OK", value_list{}});

  // QUERY names its entity type in entityType (type is then org.amqp.management).
  const std::string& type_name =
      op == "QUERY" && !req.entity_type.empty() ? req.entity_type : req.type;
  const entity_type* type = find_type(type_name);
  if (type == nullptr && !(op == "QUERY" && (type_name.empty() ||
                                             type_name == "org.amqp.management"))) {
    return answer(req, error_response(404, "Not Found: unknown entity type '" + type_name + "'"));
  }

  if (op == "CREATE" || op == "DELETE" || op == "UPDATE") {
    return answer(req, change_entity(owner_, *type, req));
  }
  if (op != "QUERY" && op != "READ") {
    return answer(req, error_response(501, "Not Implemented: operation '" + op + "'"));
  }

  // QUERY and READ: collect rows, from every shard when the type is per-shard state.
  auto finish = [this, req, alive = alive_](value_list rows) {
    if (!*alive) return;
    answer(req, req.operation == "QUERY" ? query_response(req, rows) : read_response(req, rows));
  };
  if (type == nullptr) {  // QUERY of everything: configuration entities only
    value_list rows;
    for (const auto& t : entity_types()) {
      if (t.per_shard) continue;
      auto more = config_rows(owner_.group(), t);
      rows.insert(rows.end(), more.begin(), more.end());
    }
    return finish(std::move(rows));
  }
  if (!type->per_shard) return finish(config_rows(owner_.group(), *type));

  owner_.gather<value_list>([type](shard& s) { return shard_rows(s, *type); },
                            [type, finish](std::vector<value_list> per_shard) {
                              finish(merge_rows(*type, std::move(per_shard)));
                            });
}

}  // namespace fogmesh::router::management
