// iofogctl YAML documents (`apiVersion: iofog.org/v2`, kind, metadata, spec) and their mapping
// to and from the controller's REST bodies. Pure functions, no I/O besides reading the file:
// deploy, describe and the unit tests share them.
//
// Every kind has a *canonical spec*: the YAML spec with defaults filled in, as JSON. Deploy
// compares the canonical spec of a document with the canonical spec built from the controller's
// current object and writes nothing when they are equal; describe prints the canonical spec, so
// re-deploying what describe printed is a no-op.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace fogmesh::ctl {

namespace json = boost::json;

// A document that cannot be deployed: the message names the file, the document (1-based), its
// kind and name when known, the field (spec.microservices[1].images) and the line.
class spec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class kind {
  application,
  microservice,
  route,
  registry,
  catalog_item,
  agent_config,
  agent,
  local_control_plane,
  local_agent,
  remote_agent,  // kind Agent with spec.ssh: fogctl installs and provisions it over SSH
  remote_control_plane,      // kind ControlPlane: controllers installed on hosts over SSH
  kubernetes_control_plane,  // kind KubernetesControlPlane: the operator + a ControlPlane CR
};

const char* kind_name(kind k);  // "Application", ...

struct resource {
  kind k = kind::application;
  std::string name;
  std::string ns;     // metadata.namespace; empty: the command line's namespace
  std::string file;   // where it came from, for messages
  int document = 0;   // 1-based
  json::object spec;  // canonical spec
};

// Parses every document of a multi-document YAML text; throws spec_error on the first bad one
// (nothing is deployed from a file with a bad document). Empty documents are skipped.
std::vector<resource> parse_documents(const std::string& text, const std::string& file);
std::vector<resource> load_file(const std::string& path);  // "-" reads stdin

// --- YAML <-> JSON ---
// Plain scalars are typed as YAML 1.2 core does (null, true/false, integers, floats), quoted
// scalars stay strings.
json::value yaml_text_to_json(const std::string& yaml_text);
// Block-style YAML; strings that would read back as another type are quoted.
std::string to_yaml(const json::value& v);
// A whole document: apiVersion, kind, metadata{name[, namespace]}, spec.
std::string to_yaml_document(kind k, const std::string& name, const std::string& ns,
                             const json::object& spec);

// --- canonical spec -> controller request bodies ---
json::object microservice_body(const json::object& msvc_spec);  // name, images, ports, ...
json::object application_body(const std::string& name, const json::object& app_spec);
json::object route_body(const std::string& name, const json::object& route_spec);
json::object registry_body(const json::object& registry_spec);
json::object catalog_item_body(const std::string& name, const json::object& item_spec);
// AgentConfig spec (routerConfig flattened, agentType -> fogType) -> /iofog fields.
json::object agent_config_body(const std::string& name, const json::object& config_spec);

// --- controller objects -> canonical spec (describe, and the no-op check of deploy) ---
// `fog_names` maps agent uuids to names.
using fog_name_map = std::map<std::string, std::string>;
json::object microservice_spec_from_api(const json::object& msvc, const fog_name_map& fog_names,
                                        bool with_application);
json::object application_spec_from_api(const json::object& app, const fog_name_map& fog_names);
json::object route_spec_from_api(const json::object& route);
json::object registry_spec_from_api(const json::object& registry);
json::object catalog_item_spec_from_api(const json::object& item);
json::object agent_config_spec_from_api(const json::object& fog);

// True when every field of the `wanted` agent body already has that value in `fog` (numbers
// compared by value): AgentConfig documents only say what they set.
bool agent_config_matches(const json::object& wanted_body, const json::object& fog);

// Canonical specs equal (numbers compared by value).
bool same_spec(const json::value& a, const json::value& b);

// A port's `public` as the controller shows it carries what it allocated or derived (links,
// enabled, router host and port); a document that left those out asks for no change to them.
// Drops from `current_spec` (an application's or a microservice's) the `public` fields that
// the matching port of `wanted_spec` does not set, before same_spec.
void drop_public_fields_not_asked_for(json::object& current_spec, const json::object& wanted_spec);

}  // namespace fogmesh::ctl
