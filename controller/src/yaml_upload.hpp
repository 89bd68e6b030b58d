// The `/yaml` variants of application and microservice create/update: a multipart/form-data
// upload whose file field (`application` or `microservice`) holds iofogctl-style YAML
// (apiVersion, kind, metadata, spec), turned into the JSON body the plain endpoints take
// (upstream's yaml-parser-service).
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "http.hpp"

namespace fogmesh::controller {

// The content of multipart field `field`, nullopt when the request lacks it; ValidationError
// "Invalid content type" when the request is not multipart.
std::optional<std::string> find_multipart_field(const http_request& req, std::string_view field);

// The same; a missing field is a ValidationError.
std::string multipart_field(const http_request& req, std::string_view field);

// kind: Application -> {name, description?, isActivated: true, microservices: [...], routes}.
boost::json::object application_from_yaml(const std::string& yaml);

// kind: ApplicationTemplate -> {name, description?, variables?, application: <as above>}.
boost::json::object application_template_from_yaml(const std::string& yaml);

// kind: Microservice -> a microservice body; metadata.name may be "<application>/<name>".
boost::json::object microservice_from_yaml(const std::string& yaml);

}  // namespace fogmesh::controller
