// Message scanning and router-annotation rewriting, with Proton C encoding/decoding messages.
#include "amqp/message.hpp"

#include <gtest/gtest.h>
#include <proton/codec.h>
#include <proton/message.h>

#include <memory>
#include <string>

#include "amqp/performatives.hpp"

namespace {

using namespace fogmesh::router::amqp;

pn_bytes_t pb(std::string_view s) {
  return pn_bytes(s.size(), s.data());
}

struct message_deleter {
  void operator()(pn_message_t* m) const { pn_message_free(m); }
};
using pn_message_ptr = std::unique_ptr<pn_message_t, message_deleter>;

byte_buffer proton_encode(pn_message_t* m) {
  byte_buffer out(1 << 16);
  size_t size = out.size();
  EXPECT_EQ(pn_message_encode(m, reinterpret_cast<char*>(out.data()), &size), 0);
  out.resize(size);
  return out;
}

// A message with every section before the body, user annotations keyed by symbol and ulong.
pn_message_ptr full_message() {
  pn_message_ptr m(pn_message());
  pn_message_set_durable(m.get(), true);
  pn_message_set_priority(m.get(), 7);
  pn_message_set_ttl(m.get(), 1000);
  pn_data_t* da = pn_message_instructions(m.get());
  pn_data_put_map(da);
  pn_data_enter(da);
  pn_data_put_symbol(da, pb("x-opt-da"));
  pn_data_put_int(da, 1);
  pn_data_exit(da);
  pn_data_t* ma = pn_message_annotations(m.get());
  pn_data_put_map(ma);
  pn_data_enter(ma);
  pn_data_put_symbol(ma, pb("x-opt-user"));
  pn_data_put_string(ma, pb("keep me"));
  pn_data_put_ulong(ma, 42);
  pn_data_put_string(ma, pb("numeric key"));
  pn_data_put_symbol(ma, pb("x-opt-qd.trace"));
  pn_data_put_list(ma);
  pn_data_enter(ma);
  pn_data_put_string(ma, pb("0/router-a"));
  pn_data_put_string(ma, pb("0/router-b"));
  pn_data_exit(ma);
  pn_data_put_symbol(ma, pb("x-opt-qd.ingress"));
  pn_data_put_string(ma, pb("0/router-a"));
  pn_data_put_symbol(ma, pb("x-opt-qd.phase"));
  pn_data_put_int(ma, 1);
  pn_data_put_symbol(ma, pb("x-opt-qd.to"));
  pn_data_put_string(ma, pb("override/addr"));
  pn_data_exit(ma);
  pn_message_set_id(m.get(), pn_atom_t{PN_ULONG, {.as_ulong = 123}});
  pn_message_set_address(m.get(), "queue/orders");
  pn_message_set_reply_to(m.get(), "temp/reply-1");
  pn_message_set_subject(m.get(), "subject");
  pn_data_t* ap = pn_message_properties(m.get());
  pn_data_put_map(ap);
  pn_data_enter(ap);
  pn_data_put_string(ap, pb("k"));
  pn_data_put_int(ap, 5);
  pn_data_exit(ap);
  pn_data_put_string(pn_message_body(m.get()), pb("body text"));
  return m;
}

std::uint64_t section_code(bytes_view section) {
  decoder in(section);
  auto d = in.read_descriptor();
  EXPECT_TRUE(d);
  return d ? *resolve_descriptor(*d) : 0;
}

TEST(message_scan, full_proton_message) {
  auto m = full_message();
  auto bytes = proton_encode(m.get());
  auto s = scan_message(bytes, true);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->routing_complete);
  EXPECT_TRUE(s->durable);
  EXPECT_EQ(s->priority, 7);
  EXPECT_EQ(s->to, "queue/orders");
  EXPECT_EQ(s->reply_to, "temp/reply-1");
  EXPECT_EQ(section_code(s->header), descriptor_code::header);
  EXPECT_EQ(section_code(s->delivery_annotations), descriptor_code::delivery_annotations);
  EXPECT_EQ(section_code(s->message_annotations), descriptor_code::message_annotations);
  EXPECT_EQ(section_code(s->properties), descriptor_code::properties);
  EXPECT_TRUE(s->application_properties.empty());  // scanning stops after properties
  // Sections are contiguous views into the input.
  EXPECT_EQ(s->header.data(), bytes.data());
  EXPECT_EQ(s->delivery_annotations.data(), s->header.data() + s->header.size());
  EXPECT_EQ(s->message_annotations.data(),
            s->delivery_annotations.data() + s->delivery_annotations.size());
  EXPECT_EQ(s->after_annotations, static_cast<std::size_t>(s->properties.data() - bytes.data()));
  EXPECT_EQ(s->after_properties, s->after_annotations + s->properties.size());
  EXPECT_EQ(section_code(bytes_view(bytes).subspan(s->after_properties)),
            descriptor_code::application_properties);
}

TEST(message_scan, every_prefix_is_partial_or_complete_never_wrong) {
  auto bytes = proton_encode(full_message().get());
  auto full = scan_message(bytes, true);
  ASSERT_TRUE(full);
  for (std::size_t n = 0; n <= bytes.size(); ++n) {
    bytes_view prefix = bytes_view(bytes).first(n);
    auto s = scan_message(prefix, false);
    ASSERT_TRUE(s) << n << ": " << s.error().message();
    EXPECT_EQ(s->routing_complete, n >= full->after_properties) << n;
    if (s->routing_complete) {
      EXPECT_EQ(s->to, "queue/orders");
      EXPECT_EQ(s->after_properties, full->after_properties);
      EXPECT_EQ(s->after_annotations, full->after_annotations);
    }
    // Claimed complete but cut short inside the routed sections: an error.
    auto c = scan_message(prefix, true);
    if (n < full->after_properties && n != 0 && n != full->header.size() &&
        n != full->header.size() + full->delivery_annotations.size() &&
        n != full->after_annotations) {
      EXPECT_FALSE(c) << n;
    }
  }
}

TEST(message_scan, no_properties_and_defaults) {
  pn_message_ptr m(pn_message());
  pn_data_put_string(pn_message_body(m.get()), pb("x"));
  auto bytes = proton_encode(m.get());
  auto s = scan_message(bytes, true);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->routing_complete);
  EXPECT_FALSE(s->to);
  EXPECT_EQ(s->priority, 4);
  EXPECT_FALSE(s->durable);
  // Proton writes an empty properties list even when nothing is set.
  EXPECT_EQ(s->properties.size(), 4u);

  // Header then body: properties are known to be absent even in a partial message.
  const byte_buffer header_body{0x00, 0x53, 0x70, 0x45, 0x00, 0x53, 0x77, 0x40};
  auto hb = scan_message(header_body, false);
  ASSERT_TRUE(hb);
  EXPECT_TRUE(hb->routing_complete);
  EXPECT_TRUE(hb->properties.empty());
  EXPECT_EQ(hb->after_annotations, 4u);
  EXPECT_EQ(hb->after_properties, 4u);

  // Only a header, complete: routing is complete, properties absent.
  byte_buffer header_only{0x00, 0x53, 0x70, 0x45};
  auto h = scan_message(header_only, true);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->routing_complete);
  EXPECT_EQ(h->after_annotations, 4u);
  EXPECT_EQ(h->after_properties, 4u);
  auto hp = scan_message(header_only, false);
  ASSERT_TRUE(hp);
  EXPECT_FALSE(hp->routing_complete);

  // Empty message.
  auto e = scan_message({}, true);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->routing_complete);
  auto ep = scan_message({}, false);
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->routing_complete);

  // Header with null durable and priority.
  byte_buffer nulls{0x00, 0x53, 0x70, 0xc0, 0x03, 0x02, 0x40, 0x40};
  auto n = scan_message(nulls, true);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->priority, 4);
  EXPECT_FALSE(n->durable);
}

TEST(message_priority, from_the_header_capped_at_nine_default_four) {
  pn_message_ptr m(pn_message());
  pn_data_put_string(pn_message_body(m.get()), pb("x"));
  EXPECT_EQ(message_priority(proton_encode(m.get())), 4);  // Proton leaves the header out
  pn_message_set_priority(m.get(), 7);
  const auto seven = proton_encode(m.get());
  EXPECT_EQ(message_priority(seven), 7);
  // Only the first frame may have arrived: a header cut short counts as the default.
  EXPECT_EQ(message_priority(bytes_view(seven).first(4)), 4);
  pn_message_set_priority(m.get(), 200);
  EXPECT_EQ(message_priority(proton_encode(m.get())), 9);
  pn_message_set_priority(m.get(), 0);
  EXPECT_EQ(message_priority(proton_encode(m.get())), 0);
  // Header with a null priority; a body-only message; garbage: all the default.
  const byte_buffer null_priority{0x00, 0x53, 0x70, 0xc0, 0x03, 0x02, 0x40, 0x40};
  EXPECT_EQ(message_priority(null_priority), 4);
  const byte_buffer body_only{0x00, 0x53, 0x77, 0x40};
  EXPECT_EQ(message_priority(body_only), 4);
  const byte_buffer garbage{0x00, 0x53, 0x70, 0x99, 0x01};
  EXPECT_EQ(message_priority(garbage), 4);
}

TEST(message_scan, to_as_symbol_and_symbolic_section_descriptors) {
  byte_buffer msg;
  encoder e(msg);
  e.write_descriptor(std::string_view("amqp:properties:list"));
  auto l = e.begin_list();
  e.write_null();
  e.write_null();
  e.write_symbol("sym/address");
  e.write_null();
  e.write_string("str/reply");
  e.end_list(l, 5);
  e.write_descriptor(descriptor_code::data);
  e.write_binary({});
  auto s = scan_message(msg, false);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->routing_complete);
  EXPECT_EQ(s->to, "sym/address");
  EXPECT_EQ(s->reply_to, "str/reply");
  EXPECT_EQ(s->after_annotations, 0u);
}

TEST(message_scan, malformed_sections) {
  const byte_buffer not_described{0x45};
  EXPECT_FALSE(scan_message(not_described, true));
  const byte_buffer unknown{0x00, 0x53, 0x30, 0x45};
  EXPECT_EQ(scan_message(unknown, true).error(), codec_errc::invalid_descriptor);
  // Header after message-annotations: out of order.
  const byte_buffer order{0x00, 0x53, 0x72, 0xc1, 0x01, 0x00, 0x00, 0x53, 0x70, 0x45};
  EXPECT_EQ(scan_message(order, true).error(), codec_errc::invalid_value);
  // Header that is not a list; priority of the wrong type; `to` of the wrong type.
  const byte_buffer header_str{0x00, 0x53, 0x70, 0xa1, 0x00};
  EXPECT_FALSE(scan_message(header_str, true));
  const byte_buffer bad_priority{0x00, 0x53, 0x70, 0xc0, 0x03, 0x02, 0x40, 0x43};
  EXPECT_EQ(scan_message(bad_priority, true).error(), codec_errc::unexpected_type);
  const byte_buffer bad_to{0x00, 0x53, 0x73, 0xc0, 0x04, 0x03, 0x40, 0x40, 0x43};
  EXPECT_EQ(scan_message(bad_to, true).error(), codec_errc::unexpected_type);
  // Non-map annotations are tolerated by the scan and the annotation helpers.
  const byte_buffer list_annotations{0x00, 0x53, 0x72, 0xc0, 0x03, 0x01, 0xa1,
                                     0x00, 0x00, 0x53, 0x75, 0xa0, 0x00};
  auto s = scan_message(list_annotations, true);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->message_annotations.size(), 8u);
  auto ra = read_router_annotations(s->message_annotations);
  ASSERT_TRUE(ra);
  EXPECT_FALSE(ra->ingress);
  EXPECT_TRUE(ra->trace.empty());
  EXPECT_FALSE(has_router_annotations(s->message_annotations));
  byte_buffer out;
  EXPECT_EQ(append_message_annotations(out, s->message_annotations, {}), 0u);
  EXPECT_TRUE(out.empty());
}

TEST(message_annotations, read_from_proton) {
  auto bytes = proton_encode(full_message().get());
  auto s = scan_message(bytes, true);
  ASSERT_TRUE(s);
  EXPECT_TRUE(has_router_annotations(s->message_annotations));
  EXPECT_FALSE(has_router_annotations(s->delivery_annotations));
  auto ra = read_router_annotations(s->message_annotations);
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->ingress, "0/router-a");
  EXPECT_EQ(ra->trace, (std::vector<std::string_view>{"0/router-a", "0/router-b"}));
  EXPECT_EQ(ra->to_override, "override/addr");
  EXPECT_EQ(ra->phase, 1);
  auto none = read_router_annotations({});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->ingress);
}

TEST(message_annotations, wrong_value_types_are_ignored) {
  byte_buffer section;
  encoder e(section);
  e.write_descriptor(descriptor_code::message_annotations);
  auto m = e.begin_map();
  e.write_symbol(annotation_ingress);
  e.write_uint(5);
  e.write_symbol(annotation_trace);
  e.write_string("not a list");
  e.write_symbol(annotation_phase);
  e.write_string("1");
  e.write_string("x-opt-qd.to");  // a string key, not a symbol: not ours
  e.write_string("x");
  e.end_map(m, 8);
  auto ra = read_router_annotations(section);
  ASSERT_TRUE(ra);
  EXPECT_FALSE(ra->ingress);
  EXPECT_TRUE(ra->trace.empty());
  EXPECT_FALSE(ra->phase);
  EXPECT_FALSE(ra->to_override);
  // Truncated map: an error, never a crash.
  for (std::size_t n = 1; n < section.size(); ++n) {
    EXPECT_FALSE(read_router_annotations(bytes_view(section).first(n))) << n;
  }
}

TEST(message_annotations, append_preserves_user_keys_and_rewrites_ours) {
  auto bytes = proton_encode(full_message().get());
  auto s = scan_message(bytes, true);
  ASSERT_TRUE(s);
  router_annotations add;
  add.ingress = "0/edge-1";
  add.trace = {"0/edge-1", "0/interior-2"};
  add.phase = 0;

  // Rebuild the message: header + delivery-annotations, new annotations, the rest untouched.
  const std::size_t before_ma =
      static_cast<std::size_t>(s->message_annotations.data() - bytes.data());
  byte_buffer out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(before_ma));
  const std::size_t n = append_message_annotations(out, s->message_annotations, add);
  EXPECT_EQ(n, out.size() - before_ma);
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(s->after_annotations),
             bytes.end());

  pn_message_ptr back(pn_message());
  ASSERT_EQ(pn_message_decode(back.get(), reinterpret_cast<const char*>(out.data()), out.size()),
            0);
  EXPECT_STREQ(pn_message_get_address(back.get()), "queue/orders");
  EXPECT_EQ(pn_message_get_priority(back.get()), 7);
  pn_data_t* ma = pn_message_annotations(back.get());
  pn_data_rewind(ma);
  ASSERT_TRUE(pn_data_next(ma));
  ASSERT_EQ(pn_data_type(ma), PN_MAP);
  std::vector<std::string> keys;
  pn_data_enter(ma);
  while (pn_data_next(ma)) {
    if (pn_data_type(ma) == PN_SYMBOL) {
      auto k = pn_data_get_symbol(ma);
      keys.emplace_back(k.start, k.size);
    } else if (pn_data_type(ma) == PN_ULONG) {
      keys.push_back("ulong:" + std::to_string(pn_data_get_ulong(ma)));
    }
    pn_data_next(ma);  // value
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"x-opt-user", "ulong:42", "x-opt-qd.ingress",
                                            "x-opt-qd.trace", "x-opt-qd.phase"}));

  auto rescan = scan_message(out, true);
  ASSERT_TRUE(rescan);
  auto ra = read_router_annotations(rescan->message_annotations);
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->ingress, "0/edge-1");
  EXPECT_EQ(ra->trace, (std::vector<std::string_view>{"0/edge-1", "0/interior-2"}));
  EXPECT_EQ(ra->phase, 0);
  EXPECT_FALSE(ra->to_override);  // dropped: not in `add`
}

TEST(message_annotations, append_edge_cases) {
  byte_buffer out{0x01};
  // Nothing to write: nothing appended.
  EXPECT_EQ(append_message_annotations(out, {}, {}), 0u);
  EXPECT_EQ(out.size(), 1u);
  // Only router keys in the original and nothing added: empty result, nothing appended.
  byte_buffer only_ours;
  {
    encoder e(only_ours);
    e.write_descriptor(descriptor_code::message_annotations);
    auto m = e.begin_map();
    e.write_symbol("x-opt-qd.ingress");
    e.write_string("r");
    e.end_map(m, 2);
  }
  EXPECT_EQ(append_message_annotations(out, only_ours, {}), 0u);
  EXPECT_EQ(out.size(), 1u);
  // Adding to nothing.
  router_annotations add;
  add.to_override = "new/to";
  const std::size_t n = append_message_annotations(out, {}, add);
  EXPECT_GT(n, 0u);
  bytes_view section = bytes_view(out).subspan(1);
  auto ra = read_router_annotations(section);
  ASSERT_TRUE(ra);
  EXPECT_EQ(ra->to_override, "new/to");
  // A malformed original is dropped, the additions still written.
  byte_buffer broken(only_ours.begin(), only_ours.end() - 2);
  byte_buffer out2;
  EXPECT_GT(append_message_annotations(out2, broken, add), 0u);
  auto ra2 = read_router_annotations(out2);
  ASSERT_TRUE(ra2);
  EXPECT_EQ(ra2->to_override, "new/to");
  EXPECT_FALSE(ra2->ingress);
  // Large annotations go to map32.
  router_annotations big;
  for (int i = 0; i < 40; ++i) big.trace.push_back("0/a-rather-long-router-name");
  byte_buffer out3;
  append_message_annotations(out3, {}, big);
  EXPECT_EQ(out3[3], code::map32);
  auto ra3 = read_router_annotations(out3);
  ASSERT_TRUE(ra3);
  EXPECT_EQ(ra3->trace.size(), 40u);
}

}  // namespace
