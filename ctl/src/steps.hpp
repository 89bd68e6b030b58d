// What the verbs of fogctl share: global options, the "STEP: message" error every failed step
// becomes, and the controller calls every control plane kind ends with (status, sign up / log in).
#pragma once

#include <boost/json.hpp>
#include <stdexcept>
#include <string>

#include "api_client.hpp"
#include "http_client.hpp"
#include "remote.hpp"
#include "state.hpp"

namespace fogmesh::ctl {

struct options {
  std::string ns = "default";
  std::string output;  // "", json, yaml
  bool quiet = false;
  int wait_seconds = 0;  // deploy --timeout: 0 = each step's default
};

// A deploy/delete step that failed: "create application 'x': <controller message>".
class step_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs one step; failures become step_error("STEP: controller message").
template <typename F>
auto step(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const api_error& e) {
    throw step_error(what + ": " + e.what() + " (HTTP " + std::to_string(e.status()) + " " +
                     e.name() + ")");
  } catch (const transport_error& e) {
    throw step_error(what + ": " + e.what());
  } catch (const step_error&) {
    throw;
  } catch (const ssh_error& e) {
    throw step_error(e.what());  // names the step and the host already
  } catch (const std::exception& e) {
    throw step_error(what + ": " + e.what());
  }
}

// POST /user/login; the access token.
std::string login(const endpoint& ep, const std::string& email, const std::string& password);

// Logs in as the control plane's user, signing it up first when the login is refused (a new
// controller). `user` is a canonical iofogUser {name, surname, email, password}.
std::string sign_up_or_log_in(const endpoint& ep, const boost::json::object& user);

// The end of every control plane deploy: signs up / logs in `user` on ep (a step) and stores
// the namespace's connection c with ep, the user's email and the token.
void connect_control_plane(const state& st, connection c, const endpoint& ep,
                           const boost::json::object& user);

// GET /api/v3/status answers 200 (5 s timeout).
bool controller_up(const endpoint& ep);

// A local file a document names (a kubeconfig, an SSH key) as deploy uses and stores it: "~/x"
// -> "$HOME/x", a relative path made absolute against the current directory (as iofogctl's
// FormatPath does), so the stored document names the same file from any directory.
std::string absolute_local_path(const std::string& path);

}  // namespace fogmesh::ctl
