// AMQP codec micro-benchmarks: the per-message work of the router's data path.
#include <benchmark/benchmark.h>

#include "amqp/frame.hpp"
#include "amqp/message.hpp"
#include "amqp/performatives.hpp"

namespace {

using namespace fogmesh::router::amqp;

// A ~100-byte message: header, properties (message-id, to, reply-to), a small body.
byte_buffer sample_message() {
  byte_buffer m;
  encoder e(m);
  e.write_descriptor(descriptor_code::header);
  auto h = e.begin_list();
  e.write_bool(true);
  e.write_ubyte(6);
  e.end_list(h, 2);
  e.write_descriptor(descriptor_code::properties);
  auto p = e.begin_list();
  e.write_ulong(123456);
  e.write_null();
  e.write_string("orders/eu-west/incoming");
  e.write_null();
  e.write_string("reply/client-17");
  e.end_list(p, 5);
  e.write_descriptor(descriptor_code::amqp_value);
  e.write_string("a small payload of about forty bytes....");
  return m;
}

byte_buffer sample_transfer_frame() {
  static const std::uint8_t tag[] = {0, 0, 0, 0, 0, 0, 0, 42};
  transfer t;
  t.handle = 3;
  t.delivery_id = 123456;
  t.delivery_tag = bytes_view(tag);
  t.message_format = 0;
  t.settled = false;
  auto msg = sample_message();
  byte_buffer frame;
  append_frame(frame, 1, t, msg);
  return frame;
}

void BM_transfer_decode_reencode(benchmark::State& state) {
  const byte_buffer frame = sample_transfer_frame();
  byte_buffer out;
  out.reserve(256);
  for (auto _ : state) {
    auto f = parse_frame(frame, 65536);
    auto d = decode_amqp_frame(**f);
    auto& t = std::get<transfer>(d->body);
    t.delivery_id = *t.delivery_id + 1;  // what the router changes on the outgoing link
    out.clear();
    encoder enc(out);
    encode(enc, t);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(d->payload.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::to_string(frame.size()) + "-byte frame");
}
BENCHMARK(BM_transfer_decode_reencode);

void BM_transfer_decode(benchmark::State& state) {
  const byte_buffer frame = sample_transfer_frame();
  for (auto _ : state) {
    auto f = parse_frame(frame, 65536);
    auto d = decode_amqp_frame(**f);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_transfer_decode);

void BM_transfer_encode(benchmark::State& state) {
  static const std::uint8_t tag[] = {0, 0, 0, 0, 0, 0, 0, 42};
  transfer t;
  t.handle = 3;
  t.delivery_id = 123456;
  t.delivery_tag = bytes_view(tag);
  t.message_format = 0;
  t.settled = false;
  byte_buffer out;
  out.reserve(256);
  for (auto _ : state) {
    out.clear();
    encoder enc(out);
    encode(enc, t);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_transfer_encode);

void BM_disposition_decode(benchmark::State& state) {
  disposition d;
  d.role = role::receiver;
  d.first = 1000;
  d.last = 1063;
  d.settled = true;
  d.state.type = delivery_state::kind::accepted;
  byte_buffer frame;
  append_frame(frame, 0, d);
  for (auto _ : state) {
    auto f = parse_frame(frame, 65536);
    auto got = decode_amqp_frame(**f);
    benchmark::DoNotOptimize(got);
  }
}
BENCHMARK(BM_disposition_decode);

void BM_flow_encode(benchmark::State& state) {
  flow f;
  f.next_incoming_id = 100;
  f.incoming_window = 0x7fffffff;
  f.next_outgoing_id = 200;
  f.outgoing_window = 0x7fffffff;
  f.handle = 2;
  f.delivery_count = 5000;
  f.link_credit = 250;
  byte_buffer out;
  out.reserve(256);
  for (auto _ : state) {
    out.clear();
    append_frame(out, 1, f);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_flow_encode);

void BM_scan_message(benchmark::State& state) {
  const byte_buffer msg = sample_message();
  for (auto _ : state) {
    auto s = scan_message(msg, true);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel(std::to_string(msg.size()) + "-byte message");
}
BENCHMARK(BM_scan_message);

void BM_append_message_annotations(benchmark::State& state) {
  byte_buffer original;
  {
    encoder e(original);
    e.write_descriptor(descriptor_code::message_annotations);
    auto m = e.begin_map();
    e.write_symbol("x-opt-user");
    e.write_string("value");
    e.write_symbol(annotation_ingress);
    e.write_string("0/edge-1");
    e.end_map(m, 4);
  }
  router_annotations add;
  add.ingress = "0/edge-1";
  add.trace = {"0/edge-1", "0/interior-1"};
  byte_buffer out;
  out.reserve(512);
  for (auto _ : state) {
    out.clear();
    append_message_annotations(out, original, add);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_append_message_annotations);

}  // namespace
