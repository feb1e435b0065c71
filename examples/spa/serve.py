#!/usr/bin/env python3
"""A tiny static server for the example SPA (Python's http.server, nothing to install).

Serves index.html, app.js and style.css from this folder, and /config.json built from the flags,
with security headers a real deployment should copy:
  - Content-Security-Policy: scripts only from this origin; fetch only to this origin, the issuer
    and the API; the page cannot be framed.
  - Referrer-Policy: no-referrer, so the ?code=&state= of the redirect never leaks in a Referer.

  python3 examples/spa/serve.py --issuer http://127.0.0.1:8080 --listen 127.0.0.1:8000 \\
      [--client-id latchkey-spa] [--api http://127.0.0.1:8081 --audience https://api.example]

Development only: plain HTTP on loopback, no caching, one file list.
"""
import argparse
import http.server
import json
import pathlib
import sys
from urllib.parse import urlsplit

HERE = pathlib.Path(__file__).resolve().parent
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}


def origin_of(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def make_handler(config):
    connect = " ".join(sorted({"'self'", origin_of(config["issuer"])} | ({origin_of(config["api"])} if config["api"] else set())))
    csp = (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src {connect}; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    config_body = json.dumps(config).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "latchkey-spa-example"

        def send_body(self, status, content_type, body):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            path = urlsplit(self.path).path  # the page itself is also the redirect_uri: ignore the query
            if path == "/config.json":
                return self.send_body(200, "application/json", config_body)
            if path == "/favicon.ico":  # browsers ask; there is none
                return self.send_body(204, "image/x-icon", b"")
            if path in FILES:
                name, content_type = FILES[path]
                return self.send_body(200, content_type, (HERE / name).read_bytes())
            return self.send_body(404, "text/plain; charset=utf-8", b"not found\n")

        do_HEAD = do_GET

        def log_message(self, format, *args):  # noqa: A002 (the base class's name)
            # Never log query strings: they hold authorization codes on the way back.
            sys.stderr.write(f"spa: {self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}\n")

    return Handler


def main():
    parser = argparse.ArgumentParser(description="Serve the Latchkey example SPA on loopback.")
    parser.add_argument("--issuer", required=True, help="the provider's issuer URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (default 127.0.0.1:8000)")
    parser.add_argument("--client-id", default="latchkey-spa", help="the SPA's public client id")
    parser.add_argument("--scope", default="openid profile email offline_access roles groups",
                        help="scopes to ask for (roles/groups need client create --allow-claim)")
    parser.add_argument("--api", default="", help="base URL of examples/protected-api, e.g. http://127.0.0.1:8081")
    parser.add_argument("--audience", default="", help="the API's audience, sent as the RFC 8707 resource parameter")
    args = parser.parse_args()

    host, _, port = args.listen.rpartition(":")
    config = {"issuer": args.issuer.rstrip("/"), "client_id": args.client_id, "scope": args.scope,
              "api": args.api.rstrip("/"), "audience": args.audience}
    server = http.server.ThreadingHTTPServer((host, int(port)), make_handler(config))
    bound_host, bound_port = server.server_address[:2]
    print(f"spa listening on http://{bound_host}:{bound_port}/ (issuer {config['issuer']})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
