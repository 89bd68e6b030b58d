// httpListener / httpConnector inside the router.
#include <stdexcept>

#include "adaptors_internal.hpp"

namespace fogmesh::proxy::adaptor {

std::unique_ptr<router::adaptor_instance> make_http_listener(router::shard&,
                                                             const router::generic_entity&) {
  throw std::runtime_error("httpListener is not implemented yet");
}

std::unique_ptr<router::adaptor_instance> make_http_connector(router::shard&,
                                                              const router::generic_entity&) {
  throw std::runtime_error("httpConnector is not implemented yet");
}

}  // namespace fogmesh::proxy::adaptor
