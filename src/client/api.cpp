#include "client/api.h"

#include "util/strings.h"

namespace latchkey::client {

std::string bearer_error(std::string_view challenge) {
  if (util::to_lower(challenge.substr(0, 6)) != "bearer") return {};
  auto at = challenge.find("error=\"");
  // error_description="..." also contains error=": skip matches that are part of a longer name.
  while (at != std::string_view::npos && at > 0 && challenge[at - 1] != ' ' && challenge[at - 1] != ',')
    at = challenge.find("error=\"", at + 1);
  if (at == std::string_view::npos) return {};
  auto start = at + 7;
  auto end = challenge.find('"', start);
  return end == std::string_view::npos ? std::string{} : std::string(challenge.substr(start, end - start));
}

Result<ApiResponse> call_api(Client& client, HttpClient& http, const Profile& profile, const ApiRequest& request,
                             util::Timestamp min_valid) {
  if (!is_secure_or_loopback_url(request.url))
    return fail(ErrorKind::usage, "refusing to send the access token to " + request.url,
                "use an https URL (plain http only to 127.0.0.1, [::1] or localhost)");
  for (const auto& [name, value] : request.headers)
    if (util::to_lower(name) == "authorization")
      return fail(ErrorKind::usage, "-H Authorization would replace the profile's token", "drop that -H");

  auto tokens = client.valid_tokens(profile, min_valid);
  if (!tokens) return std::unexpected(tokens.error());
  auto send = [&](const std::string& access_token) {
    HttpRequest r;
    r.method = request.method;
    r.url = request.url;
    r.headers = request.headers;
    r.headers.emplace_back("Authorization", "Bearer " + access_token);
    r.body = request.body;
    return http.send(r);
  };
  auto first = send(tokens->access_token);
  if (!first) return std::unexpected(first.error());
  ApiResponse out{std::move(*first), false, {}};
  if (out.response.status != 401 || bearer_error(out.response.header("www-authenticate")) != "invalid_token") return out;

  // The API no longer accepts this token (expired early, revoked, keys rotated): one fresh try.
  auto refreshed = client.refresh(profile);
  if (!refreshed) {
    out.refresh_problem = refreshed.error().message();
    return out;
  }
  auto second = send(refreshed->access_token);
  if (!second) return std::unexpected(second.error());
  return ApiResponse{std::move(*second), true, {}};
}

}  // namespace latchkey::client
