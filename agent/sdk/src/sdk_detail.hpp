// Internals shared by the SDK's sources.
#pragma once

#include "fogmesh/sdk/microservice.hpp"

namespace fogmesh::sdk::detail {

// Gives the message an id (32 hex) and timestamp (epoch ms) where it has none, as an agent
// would: on the AMQP path no agent stamps it.
void stamp_if_missing(io_message& message);

}  // namespace fogmesh::sdk::detail
