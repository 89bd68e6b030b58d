// Application templates: stored {microservices, routes} with {{ variable }} placeholders.
#pragma once

#include <boost/json.hpp>

#include "app.hpp"

namespace fogmesh::controller {

// Renders the template named in `ref` ({name, variables:[{key,value}]}) for the request's user:
// every "{{ key }}" inside a string becomes the value (a string that is exactly one placeholder
// takes the value's JSON type). Returns the application part: {microservices, routes}.
boost::json::object render_application_template(request_context& ctx,
                                                const boost::json::object& ref);

}  // namespace fogmesh::controller
