#pragma once
// Canned HTTP for the client tests: responses queued per "METHOD URL", every request recorded.
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>

#include "client/http.h"
#include "util/random.h"

namespace latchkey::client::testing {

class FakeHttp final : public HttpClient {
 public:
  // A response for the next request to `method url`; the last one queued repeats.
  void on(const std::string& method, const std::string& url, long status, std::string body) {
    std::lock_guard lock(mutex_);
    routes_[method + " " + url].push_back(HttpResponse{status, {{"content-type", "application/json"}}, std::move(body)});
  }
  // A handler that computes the response (for stateful fakes such as rotating refresh tokens).
  void handle(const std::string& method, const std::string& url, std::function<HttpResponse(const HttpRequest&)> h) {
    std::lock_guard lock(mutex_);
    handlers_[method + " " + url] = std::move(h);
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    std::function<HttpResponse(const HttpRequest&)> handler;
    {
      std::lock_guard lock(mutex_);
      requests.push_back(request);
      std::string key = request.method + " " + request.url;
      if (auto h = handlers_.find(key); h != handlers_.end()) handler = h->second;
      else {
        auto it = routes_.find(key);
        if (it == routes_.end() || it->second.empty())
          return fail(ErrorKind::network, "cannot reach " + request.url + ": no route in FakeHttp", "");
        HttpResponse r = it->second.front();
        if (it->second.size() > 1) it->second.pop_front();
        return r;
      }
    }
    return handler(request);
  }

  std::size_t count(const std::string& method, const std::string& url) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& r : requests) n += r.method == method && r.url == url;
    return n;
  }

  std::vector<HttpRequest> requests;

 private:
  std::mutex mutex_;
  std::map<std::string, std::deque<HttpResponse>> routes_;
  std::map<std::string, std::function<HttpResponse(const HttpRequest&)>> handlers_;
};

// Deterministic bytes: a counter, so tokens differ but tests repeat.
class CountingRandom final : public util::Random {
 public:
  void fill(void* out, std::size_t size) override {
    auto* p = static_cast<unsigned char*>(out);
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<unsigned char>(next_++);
  }

 private:
  unsigned next_ = 1;
};

// A fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("latchkey-client-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace latchkey::client::testing
