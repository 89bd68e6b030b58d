// Writing JSON text by hand, for the places that build JSON on a hot path or without a JSON
// library (the router's config and management output, the agent's ioMessage encoder, the
// controller's row serialiser).
#pragma once

#include <string>
#include <string_view>

namespace fogmesh {

// Appends `s` as a quoted JSON string. Escapes exactly what boost::json::serialize escapes (`"`,
// `\`, \b \f \n \r \t by name, other control characters as \u00XX) and copies everything else,
// UTF-8 included, as it is, so hand-written and library-written JSON are byte for byte the same.
void append_json_string(std::string& out, std::string_view s);

}  // namespace fogmesh
