// Helpers of the public-port API tests (api_public_ports_test, api_public_port_lifecycle_test).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "testkit.hpp"

namespace fogmesh::controller::test {

class public_ports_fixture : public api_test {
 protected:
  using ports = std::vector<int64_t>;

  // POST /microservices with a busybox image on `fog`; its uuid, or the error body.
  std::string msvc(const std::string& token, const std::string& app, const std::string& fog,
                   const std::string& name, const std::string& port_list, int expect = 201) {
    auto r = post("/api/v3/microservices",
                  R"({"name":")" + name + R"(","application":")" + app + R"(","iofogUuid":")" +
                      fog + R"(","images":[{"containerImage":"busybox","fogTypeId":1}],"ports":)" +
                      port_list + "}",
                  token);
    EXPECT_EQ(r.status, expect) << r.body;
    return r.status == 201 ? std::string(r.json().at("uuid").as_string()) : r.body;
  }
  // An interior router fog on `host`, inter-router port `inter` and edge port `inter + 1`.
  std::string interior_fog(const std::string& token, const std::string& name,
                           const std::string& host, int inter, const std::string& extra = "") {
    return create_fog(token, name,
                      R"("host":")" + host + R"(","routerMode":"interior","interRouterPort":)" +
                          std::to_string(inter) + R"(,"edgeRouterPort":)" +
                          std::to_string(inter + 1) + extra);
  }
  // An activated application.
  void activated_app(const std::string& token, const std::string& name) {
    auto r = post("/api/v3/application", R"({"name":")" + name + R"(","isActivated":true})", token);
    EXPECT_EQ(r.status, 201) << r.body;
  }
  // `"router":{"host":"<fog>"}`, for a `public` object.
  static std::string on_router(const std::string& fog) {
    return R"("router":{"host":")" + fog + R"("})";
  }
  // The element of GET /microservices/public-ports with that public port, or null.
  static const boost::json::value* find_port(const boost::json::value& list, int64_t public_port) {
    for (const auto& p : list.as_array()) {
      if (p.at("publicPort").at("publicPort") == boost::json::value(public_port)) return &p;
    }
    return nullptr;
  }
  // The `public` object of the microservice's port mapping for `internal` (null: a plain port).
  boost::json::value public_of(const std::string& token, const std::string& uuid,
                               int64_t internal) {
    auto m = get("/api/v3/microservices/" + uuid, token).json();
    for (const auto& p : m.at("ports").as_array()) {
      if (p.at("internal") == boost::json::value(internal))
        return p.as_object().contains("public") ? p.at("public") : boost::json::value();
    }
    ADD_FAILURE() << "no port mapping " << internal << " on " << uuid;
    return nullptr;
  }
  // The address of the public port on public router `host_key` ("" when there is none).
  static std::string address_of(int64_t public_port, const std::string& host_key) {
    return db().query("SELECT address FROM microservice_public_ports WHERE public_port = " +
                      std::to_string(public_port) + " AND host_key = '" + host_key + "'");
  }
  // The ports of one kind of entity (httpListeners, tcpConnectors...) in a fog's router config.
  ports rendered(const std::string& token, const std::string& fog, const char* key) {
    ports out;
    auto cfg = router_config(token, fog);
    if (const auto* list = cfg.as_object().if_contains(key)) {
      for (const auto& e : list->as_array()) out.push_back(e.at("port").as_int64());
    }
    return out;
  }
  // The public ports GET /microservices/public-ports lists, sorted.
  ports listed_public_ports(const std::string& token) {
    ports out;
    auto list = get("/api/v3/microservices/public-ports", token).json();
    for (const auto& p : list.as_array())
      out.push_back(p.at("publicPort").at("publicPort").as_int64());
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace fogmesh::controller::test
