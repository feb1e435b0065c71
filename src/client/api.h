#pragma once
// `latchkey api`: call a protected API with the profile's access token (RFC 6750 §2.1 header).
#include <string>

#include "client/client.h"

namespace latchkey::client {

struct ApiRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;  // extra request headers; never Authorization (the token is ours to send)
  std::string body;
};

struct ApiResponse {
  HttpResponse response;
  bool refreshed = false;         // the first answer was 401 invalid_token and a refreshed token was tried
  std::string refresh_problem;    // why a refresh after 401 was not possible, when it was not
};

// Sends `request` with "Authorization: Bearer <access token>", the token refreshed first when it
// expires within `min_valid` seconds. When the API answers 401 with error="invalid_token" (RFC 6750
// §3.1: expired or revoked), the tokens are refreshed once and the request is sent again.
// Only https URLs, or http to a loopback host, receive the token.
Result<ApiResponse> call_api(Client& client, HttpClient& http, const Profile& profile, const ApiRequest& request,
                             util::Timestamp min_valid = 60);

// The `error` attribute of a Bearer WWW-Authenticate challenge ("" when none).
std::string bearer_error(std::string_view www_authenticate);

}  // namespace latchkey::client
