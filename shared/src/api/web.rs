//! `GET /` (the page to try the API), `GET /docs` (ReDoc) and `GET /openapi.json`. Everything is
//! embedded in the binary; the OpenAPI document is rendered once per cold start.
use crate::error::Error;
use crate::http::problem;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{HeaderName, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

const INDEX: &str = include_str!("../../static/index.html");
const DOCS: &str = include_str!("../../static/docs.html");

/// The page talks only to its own origin; no framework, no CDN.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub struct Site {
    openapi: String,
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    pub fn new() -> Self {
        Self {
            openapi: super::openapi::document(),
        }
    }

    pub fn handle(&self, req: &Request) -> Response<Body> {
        // The page and the docs must never be confused with API routes: only these three.
        let path = req.raw_http_path();
        if !matches!(path, "/" | "/docs" | "/openapi.json") {
            return problem(&Error::RouteNotFound);
        }
        if req.method() != Method::GET {
            return problem(&Error::MethodNotAllowed);
        }
        match path {
            "/" => page("text/html; charset=utf-8", INDEX, Some(PAGE_CSP)),
            "/docs" => page("text/html; charset=utf-8", DOCS, None),
            _ => page("application/json", &self.openapi, None),
        }
    }
}

fn page(content_type: &'static str, body: &str, csp: Option<&'static str>) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body.to_owned()));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(csp) = csp {
        h.insert(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(csp),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request as API Gateway (HTTP API, payload 2.0) hands it to the function.
    fn get(method: &str, path: &str) -> Response<Body> {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": format!("{method} {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t" },
                "accountId": "1", "apiId": "a", "domainName": "localhost", "domainPrefix": "localhost",
                "requestId": "r", "routeKey": format!("{method} {path}"), "stage": "$default",
                "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 0
            },
            "isBase64Encoded": false
        });
        let req = lambda_http::request::from_str(&event.to_string()).unwrap();
        Site::new().handle(&req)
    }

    fn text(resp: &Response<Body>) -> String {
        String::from_utf8(resp.body().as_ref().to_vec()).unwrap()
    }

    #[test]
    fn the_page_is_html_with_a_strict_content_security_policy() {
        let resp = get("GET", "/");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(
            resp.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("connect-src 'self'")
        );
        let html = text(&resp);
        assert!(html.contains("/v1/auth/send-code") && html.contains("sessionStorage"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the page must load nothing from elsewhere"
        );
    }

    #[test]
    fn the_docs_load_a_pinned_redoc_with_an_integrity_hash() {
        let html = text(&get("GET", "/docs"));
        assert!(html.contains("https://cdn.redoc.ly/redoc/v2.5.1/bundles/redoc.standalone.js"));
        assert!(html.contains("integrity=\"sha384-"));
        assert!(html.contains("/openapi.json"));
    }

    #[test]
    fn the_openapi_document_is_served_as_json() {
        let resp = get("GET", "/openapi.json");
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        let doc: serde_json::Value = serde_json::from_str(&text(&resp)).unwrap();
        assert!(doc["paths"]["/v1/profile"].is_object());
    }

    #[test]
    fn other_paths_and_methods_are_problems() {
        assert_eq!(get("GET", "/nothing").status(), 404);
        assert_eq!(get("POST", "/").status(), 405);
    }
}
