#pragma once
// Server-rendered HTML: login, consent and error pages. No JavaScript; every dynamic value is
// HTML-escaped here and nowhere else.
#include <string>
#include <string_view>
#include <vector>

#include "oauth/message.h"

namespace latchkey::oauth {

struct LoginPage {
  std::string client_name;
  std::string action;  // form target
  std::string csrf;
  std::string username;  // pre-filled after a failed attempt
  std::string error;     // shown above the form when not empty
};

struct ConsentPage {
  std::string client_name;
  std::string client_id;
  std::string user_name;
  std::vector<std::string> scopes;
  std::vector<std::string> audiences;
  std::string action;
  std::string csrf;
};

Response login_page_response(const LoginPage& page, int status = 200);
Response consent_page_response(const ConsentPage& page);
Response error_page_response(int status, std::string_view title, std::string_view message);
Response message_page_response(int status, std::string_view title, std::string_view message);

struct DevicePage {
  std::string action;
  std::string csrf;
  std::string user_code;  // pre-filled from verification_uri_complete
  std::string error;
};
Response device_page_response(const DevicePage& page, int status = 200);

// A page with a single button that posts `fields` to `action` (logout confirmation).
Response confirm_page_response(std::string_view title, std::string_view message, std::string_view action,
                               const std::vector<std::pair<std::string, std::string>>& fields,
                               std::string_view button);
Response stylesheet_response();

// Plain words for what a scope allows (consent pages).
std::string describe_scope(std::string_view scope);

}  // namespace latchkey::oauth
