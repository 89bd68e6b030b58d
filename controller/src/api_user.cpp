// User endpoints: signup, login/logout, profile, password. Passwords are argon2id hashes, tokens
// are random and stored as SHA-256 digests, with a one-hour sliding expiry (see app.cpp).
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "app.hpp"
#include "auth.hpp"
#include "fog_model.hpp"
#include "validate.hpp"

namespace fogmesh::controller {

namespace json = boost::json;

namespace {

constexpr const char* already_exists =
    "Registration failed: There is already an account associated with your email address. "
    "Please try logging in instead.";

// Failed logins per email address, in memory: enough to stop online password guessing against
// one controller. (Replicas each keep their own window.)
class login_limiter {
 public:
  static constexpr int max_failures = 10;
  static constexpr auto window = std::chrono::minutes(5);

  bool blocked(const std::string& email) {
    std::lock_guard lock(mutex_);
    auto it = failures_.find(email);
    if (it == failures_.end()) return false;
    if (std::chrono::steady_clock::now() - it->second.since > window) {
      failures_.erase(it);
      return false;
    }
    return it->second.count >= max_failures;
  }
  void failed(const std::string& email) {
    std::lock_guard lock(mutex_);
    if (failures_.size() > 100000) failures_.clear();  // bound memory under a spray of emails
    auto& f = failures_[email];
    auto now = std::chrono::steady_clock::now();
    if (f.count == 0 || now - f.since > window) f = {0, now};
    ++f.count;
  }
  void succeeded(const std::string& email) {
    std::lock_guard lock(mutex_);
    failures_.erase(email);
  }

 private:
  struct entry {
    int count = 0;
    std::chrono::steady_clock::time_point since;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, entry> failures_;
};

login_limiter& limiter() {
  static login_limiter l;
  return l;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string read_email(body_reader& r) {
  auto email = r.str("email", true);
  if (!is_email(*email)) throw_format("email");
  return *email;
}

http_response signup(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto first = r.str("firstName", true, 3);
  auto last = r.str("lastName", true, 3);
  auto email = read_email(r);
  auto password = r.str("password", true, 8);
  auto existing = pexec(ctx.tx(), "SELECT 1 FROM users WHERE lower(email) = lower($1)", email);
  if (!existing.empty()) throw validation_error(already_exists);
  std::string hash = hash_password(*password);
  pqxx::row row;
  try {
    row = pexec1(
        ctx.tx(),
        "INSERT INTO users (first_name, last_name, email, password_hash) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        *first, *last, email, hash);
  } catch (const pqxx::unique_violation&) {
    throw validation_error(already_exists);  // lost a race with a concurrent signup
  }
  json::object o;
  o["userId"] = row[0].as<int64_t>();
  o["firstName"] = *first;
  o["lastName"] = *last;
  o["email"] = email;
  o["emailActivated"] = true;
  return json_response(201, o);
}

http_response login(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto email = read_email(r);
  auto password = r.str("password", true);
  std::string key = lower(email);
  if (limiter().blocked(key)) {
    throw api_error(429, "TooManyRequestsError", "Too many failed login attempts, try again later");
  }
  auto rows =
      pexec(ctx.tx(), "SELECT id, password_hash FROM users WHERE lower(email) = lower($1)", email);
  // Hash even for unknown emails so response time does not reveal which accounts exist.
  static const std::string dummy_hash = hash_password("fogmesh-dummy-password");
  bool ok =
      verify_password(*password, rows.empty() ? dummy_hash : rows[0][1].c_str()) && !rows.empty();
  if (!ok) {
    limiter().failed(key);
    throw invalid_credentials();
  }
  limiter().succeeded(key);
  std::string token = new_token();
  pexec0(ctx.tx(),
         "INSERT INTO user_tokens (token_hash, user_id, expires_at) "
         "VALUES (decode($1, 'hex'), $2, now() + interval '1 hour')",
         token_digest_hex(token), rows[0][0].as<int64_t>());
  // Expired tokens of this user are garbage: collect them here rather than in a job.
  pexec0(ctx.tx(), "DELETE FROM user_tokens WHERE user_id = $1 AND expires_at < now()",
         rows[0][0].as<int64_t>());
  return json_response(200, json::object{{"accessToken", token}});
}

http_response logout(request_context& ctx) {
  pexec0(ctx.tx(), "DELETE FROM user_tokens WHERE token_hash = decode($1, 'hex')",
         token_digest_hex(token_from_header(*ctx.req.header("authorization"))));
  return empty_response(204);
}

json::object profile_of(request_context& ctx) {
  auto row =
      pexec1(ctx.tx(), "SELECT first_name, last_name, email FROM users WHERE id = $1", ctx.user_id);
  return json::object{{"id", ctx.user_id},
                      {"firstName", row[0].c_str()},
                      {"lastName", row[1].c_str()},
                      {"email", row[2].c_str()}};
}

http_response profile_get(request_context& ctx) {
  return json_response(200, profile_of(ctx));
}

http_response profile_patch(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto first = r.str("firstName", false, 3);
  auto last = r.str("lastName", false, 3);
  // The email is the login name and is not editable, as upstream.
  pexec0(ctx.tx(),
         "UPDATE users SET first_name = coalesce($2, first_name), last_name = coalesce($3, "
         "last_name), updated_at = now() WHERE id = $1",
         ctx.user_id, first, last);
  return json_response(200, profile_of(ctx));
}

http_response profile_delete(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  bool force = r.boolean("force").value_or(false);
  if (!force) {
    auto running = pexec(
        ctx.tx(), "SELECT 1 FROM fogs WHERE user_id = $1 AND daemon_status = 'RUNNING' LIMIT 1",
        ctx.user_id);
    if (!running.empty()) {
      throw validation_error(
          "There are running ioFog-agents, stop them before removal or pass 'force' parameter");
    }
  }
  pexec0(ctx.tx(), "DELETE FROM users WHERE id = $1", ctx.user_id);
  fogs_changed_by_request().push_back("*");  // all of the user's agents lose their tokens
  return empty_response(204);
}

http_response password_patch(request_context& ctx) {
  auto body = parse_body(ctx.req);
  body_reader r(body);
  auto old_password = r.str("oldPassword", true);
  auto new_password = r.str("newPassword", true, 8);
  auto row = pexec1(ctx.tx(), "SELECT password_hash FROM users WHERE id = $1", ctx.user_id);
  if (!verify_password(*old_password, row[0].c_str())) {
    throw validation_error("Old password is incorrect");
  }
  pexec0(ctx.tx(), "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
         ctx.user_id, hash_password(*new_password));
  // Other sessions end with the old password; the caller's stays valid.
  pexec0(ctx.tx(), "DELETE FROM user_tokens WHERE user_id = $1 AND token_hash <> decode($2, 'hex')",
         ctx.user_id, token_digest_hex(token_from_header(*ctx.req.header("authorization"))));
  return empty_response(204);
}

}  // namespace

void register_user_routes(app& a) {
  a.add_route({"POST", "/user/signup", auth_kind::none, signup, "Create a user", 201});
  a.add_route({"POST", "/user/login", auth_kind::none, login, "Log in: returns an access token"});
  a.add_route({"POST", "/user/logout", auth_kind::user, logout, "Invalidate the token", 204});
  a.add_route({"GET", "/user/profile", auth_kind::user, profile_get, "Current user's profile"});
  a.add_route({"PATCH", "/user/profile", auth_kind::user, profile_patch, "Update the profile"});
  a.add_route({"DELETE", "/user/profile", auth_kind::user, profile_delete, "Delete the user", 204});
  a.add_route({"PATCH", "/user/password", auth_kind::user, password_patch, "Change password", 204});
  a.add_route({"GET", "/user/signup/resend-activation", auth_kind::none,
               [](request_context&) { return empty_response(204); },
               "Resend activation email (activation is off: no-op)", 204});
  a.add_route(
      {"POST", "/user/activate", auth_kind::none,
       [](request_context&) -> http_response { throw not_found("Activation code not found"); },
       "Activate an account (activation is off)", 303});
}

}  // namespace fogmesh::controller
