// Message ids for ioMessages published through the agent's bus or the SDK (defined in the codec
// library, fogmesh_agent_iomessage, which both link).
#pragma once

#include <string>

namespace fogmesh::agent {

// A new message id: 32 lower-case hex digits (128 bits). Unique, not secret: a per-thread
// generator seeded once from the OS (std::random_device, 256 bits) instead of a syscall per
// message, which showed in the publish paths' profiles.
std::string new_message_id();

}  // namespace fogmesh::agent
