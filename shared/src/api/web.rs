//! `GET /` (the page to try the API), `GET /docs` (ReDoc, and ReDoc's script) and
//! `GET /openapi.json`. Everything is embedded in the binary, so the docs need no internet; the
//! OpenAPI document is rendered on its first request after a cold start.
use std::sync::OnceLock;

use super::openapi::Settings;
use crate::config::CaptchaProvider;
use crate::config::Edge;
use crate::error::Error;
use crate::http::problem;
use crate::routes::{self, Function, Operation};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

const INDEX: &str = include_str!("../../static/index.html");
const DOCS: &str = include_str!("../../static/docs.html");
/// ReDoc's standalone bundle, the npm package's file byte for byte (shared/static/redoc/README.md):
/// committed, so that `cargo build` alone builds `web`; docs.html loads it with its sha384.
const REDOC: &str = include_str!("../../static/redoc/redoc.standalone.js");
/// Its path names its version, so a browser may keep it as long as it likes.
const REDOC_CACHE: &str = "public, max-age=31536000, immutable";

/// The docs run only ReDoc from this origin, which fetches the document from here, injects its
/// styles, and runs its search in a worker it makes from a blob; they may not be framed or post
/// anywhere.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; font-src 'self' data:; worker-src blob:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub struct Site {
    index: String,
    settings: Settings,
    /// Built on the first `GET /openapi.json`, not at init: most cold starts of this function
    /// serve the page or the docs, and the document takes about a millisecond to build.
    openapi: OnceLock<String>,
    page_csp: String,
    /// The edge in front of the API, if any: the page and the docs are served through it only.
    edge: Edge,
}

/// The CSP source for the inline block between `open` and `close` (as a browser hashes it).
fn inline_hash(html: &str, open: &str, close: &str) -> String {
    let start = html.find(open).map_or(0, |i| i + open.len());
    let end = html[start..].find(close).map_or(html.len(), |i| start + i);
    format!(
        "'sha256-{}'",
        B64.encode(Sha256::digest(&html.as_bytes()[start..end]))
    )
}

/// The banner the page shows when the API runs in demo mode.
const DEMO_BANNER: &str = r#"id="demo-banner" role="status" hidden>"#;

/// Where the CAPTCHA widget goes; the page's script shows it when the element names a provider.
const CAPTCHA_SLOT: &str = r#"<div id="captcha" class="captcha" hidden></div>"#;

/// A provider's widget: its script, and what the page's Content-Security-Policy must allow for
/// it, as the provider documents (Turnstile: its script and its frame; hCaptcha: also its styles
/// and its calls).
struct Widget {
    script: &'static str,
    script_src: &'static str,
    frame_src: &'static str,
    style_src: &'static str,
    connect_src: &'static str,
}

fn widget(provider: CaptchaProvider) -> Option<Widget> {
    match provider {
        CaptchaProvider::None => None,
        CaptchaProvider::Turnstile => {
            let cloudflare = "https://challenges.cloudflare.com";
            Some(Widget {
                script: "https://challenges.cloudflare.com/turnstile/v0/api.js",
                script_src: cloudflare,
                frame_src: cloudflare,
                style_src: "",
                connect_src: "",
            })
        }
        CaptchaProvider::Hcaptcha => {
            let hcaptcha = "https://hcaptcha.com https://*.hcaptcha.com";
            Some(Widget {
                script: "https://js.hcaptcha.com/1/api.js",
                script_src: hcaptcha,
                frame_src: hcaptcha,
                style_src: hcaptcha,
                connect_src: hcaptcha,
            })
        }
    }
}

impl Site {
    /// `settings.demo_mode`: the API shows login codes in its answers (`EXPOSE_CODES=true`); the
    /// page then says so in a banner, and the OpenAPI document links send-code to verify-code.
    /// The page shows no CAPTCHA widget: see [`Site::with_captcha_site_key`].
    pub fn new(settings: Settings) -> Self {
        Self::build(settings, None)
    }

    /// The site with the CAPTCHA widget of `settings.captcha` on the page, for `site_key`
    /// (`CAPTCHA_SITE_KEY`, already checked to be letters, digits, `-` and `_`).
    pub fn with_captcha_site_key(self, site_key: Option<&str>) -> Self {
        Self {
            edge: self.edge,
            ..Self::build(self.settings, site_key)
        }
    }

    /// The site behind `edge` (`EDGE_SECRET`): requests that did not come through it are refused.
    pub fn with_edge(self, edge: Edge) -> Self {
        Self { edge, ..self }
    }

    fn build(settings: Settings, site_key: Option<&str>) -> Self {
        let widget = site_key.and_then(|key| Some((widget(settings.captcha)?, key)));
        let with = |own: String, extra: &str| match extra {
            "" => own,
            extra => format!("{own} {extra}"),
        };
        let (script, style) = (
            inline_hash(INDEX, "<script>", "</script>"),
            inline_hash(INDEX, "<style>", "</style>"),
        );
        // The page talks only to its own origin, and runs only its own script and style (their
        // hashes, not 'unsafe-inline'), and with a CAPTCHA what its provider documents.
        let page_csp = match &widget {
            None => format!(
                "default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; \
                 img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            ),
            Some((w, _)) => format!(
                "default-src 'none'; script-src {}; style-src {}; frame-src {}; connect-src {}; \
                 img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                with(script, w.script_src),
                with(style, w.style_src),
                w.frame_src,
                with("'self'".to_owned(), w.connect_src),
            ),
        };
        let mut index = if settings.demo_mode {
            INDEX.replacen(DEMO_BANNER, r#"id="demo-banner" role="status">"#, 1)
        } else {
            INDEX.to_owned()
        };
        if let Some((w, key)) = &widget {
            let slot = format!(
                r#"<div id="captcha" class="captcha" data-provider="{}" data-script="{}" data-sitekey="{key}" hidden></div>"#,
                settings.captcha.name(),
                w.script,
            );
            index = index.replacen(CAPTCHA_SLOT, &slot, 1);
        }
        Self {
            index,
            settings,
            openapi: OnceLock::new(),
            page_csp,
            edge: Edge::default(),
        }
    }

    pub fn handle(&self, req: &Request) -> Response<Body> {
        if let Err(e) = self.edge.admit(req) {
            return problem(&e);
        }
        // The page and the docs must never be confused with API routes: only the web routes.
        match routes::operation(Function::Web, req) {
            Ok(Operation::Page) => page(
                "text/html; charset=utf-8",
                &self.index,
                Some(&self.page_csp),
            ),
            Ok(Operation::Docs) => page("text/html; charset=utf-8", DOCS, Some(DOCS_CSP)),
            Ok(Operation::Redoc) => {
                let mut resp = page("text/javascript; charset=utf-8", REDOC, None);
                resp.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static(REDOC_CACHE));
                resp
            }
            Ok(Operation::OpenApi) => {
                let document = self
                    .openapi
                    .get_or_init(|| super::openapi::document(self.settings));
                page("application/json", document, None)
            }
            Ok(_) => problem(&Error::RouteNotFound),
            Err(e) => problem(&e),
        }
    }
}

fn page(content_type: &'static str, body: &str, csp: Option<&str>) -> Response<Body> {
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
    if let Some(Ok(csp)) = csp.map(HeaderValue::from_str) {
        h.insert(HeaderName::from_static("content-security-policy"), csp);
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
        Site::new(settings(false)).handle(&req)
    }

    fn settings(demo_mode: bool) -> Settings {
        Settings {
            otp_digits: 4,
            demo_mode,
            captcha: CaptchaProvider::None,
        }
    }

    fn text(resp: &Response<Body>) -> String {
        String::from_utf8(resp.body().as_ref().to_vec()).unwrap()
    }

    #[test]
    fn the_page_is_html_with_a_strict_content_security_policy() {
        let resp = get("GET", "/");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        let html = text(&resp);
        assert!(html.contains("/v1/auth/send-code") && html.contains("sessionStorage"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the page must load nothing from elsewhere"
        );
    }

    #[test]
    fn the_page_shows_the_demo_banner_only_in_demo_mode() {
        assert!(INDEX.contains(DEMO_BANNER));
        let req = |site: Site| {
            let event = crate::testing::event("GET", "/", &[], None);
            text(&site.handle(&lambda_http::request::from_str(&event).unwrap()))
        };
        let demo = req(Site::new(settings(true)));
        assert!(
            demo.contains(r#"id="demo-banner" role="status">"#),
            "{demo}"
        );
        assert!(req(Site::new(settings(false))).contains(DEMO_BANNER));
    }

    fn page_of(site: &Site) -> Response<Body> {
        let event = crate::testing::event("GET", "/", &[], None);
        site.handle(&lambda_http::request::from_str(&event).unwrap())
    }

    #[test]
    fn the_page_shows_the_providers_widget_only_with_a_provider_and_a_site_key() {
        assert!(INDEX.contains(CAPTCHA_SLOT));
        for (provider, script, origin) in [
            (
                CaptchaProvider::Turnstile,
                "https://challenges.cloudflare.com/turnstile/v0/api.js",
                "https://challenges.cloudflare.com",
            ),
            (
                CaptchaProvider::Hcaptcha,
                "https://js.hcaptcha.com/1/api.js",
                "https://*.hcaptcha.com",
            ),
        ] {
            let on = Settings {
                captcha: provider,
                ..settings(false)
            };
            let site = Site::new(on).with_captcha_site_key(Some("1x00000000000000000000AA"));
            let resp = page_of(&site);
            let html = text(&resp);
            assert!(
                html.contains(&format!(
                    r#"data-provider="{}" data-script="{script}" data-sitekey="1x00000000000000000000AA""#,
                    provider.name()
                )),
                "{html}"
            );
            let csp = resp.headers()["content-security-policy"].to_str().unwrap();
            for directive in ["script-src", "frame-src"] {
                let sources = csp
                    .split("; ")
                    .find(|d| d.starts_with(directive))
                    .unwrap_or_default();
                assert!(sources.contains(origin), "{directive}: {csp}");
            }
            // Still only our own inline script and style, by hash.
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
            // No site key, or no provider: no widget.
            let no_key = Site::new(on).with_captcha_site_key(None);
            assert!(text(&page_of(&no_key)).contains(CAPTCHA_SLOT));
        }
        let off = Site::new(settings(false)).with_captcha_site_key(Some("key"));
        let resp = page_of(&off);
        assert!(text(&resp).contains(CAPTCHA_SLOT));
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            !csp.contains("frame-src") && !csp.contains("https://"),
            "{csp}"
        );
    }

    /// The one `<script>` of docs.html: its `src` and its `integrity`.
    fn docs_script() -> (String, String) {
        let tag = &DOCS[DOCS.find("<script").unwrap()..];
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            tag[start..start + tag[start..].find('"').unwrap()].to_owned()
        };
        (attr("src"), attr("integrity"))
    }

    #[test]
    fn the_docs_load_redoc_from_this_origin_with_the_served_scripts_integrity_hash() {
        use sha2::Sha384;
        let resp = get("GET", "/docs");
        let html = text(&resp);
        assert!(html.contains(r#"spec-url="/openapi.json""#), "{html}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "the docs must load nothing from elsewhere: {html}"
        );
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self';"),
            "{csp}"
        );
        let (src, integrity) = docs_script();
        let script = get("GET", &src);
        assert_eq!(script.status(), 200, "{src}");
        assert_eq!(
            script.headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            script.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let served = script.body().as_ref();
        assert_eq!(
            integrity,
            format!("sha384-{}", B64.encode(Sha384::digest(served))),
            "docs.html's integrity is not the served script's"
        );
        assert_eq!(served.len(), REDOC.len());
    }

    /// The path names the version package.json pins, and the committed bundle is that version's
    /// npm file, byte for byte (checked where `npm ci` has run, as `make test` does first; the
    /// browser test also compares the served script with it).
    #[test]
    fn the_served_redoc_is_the_pinned_npm_packages_bundle() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let package: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("package.json")).unwrap())
                .unwrap();
        let version = package["devDependencies"]["redoc"].as_str().unwrap();
        assert!(
            version.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "package.json must pin redoc to an exact version: {version}"
        );
        let (src, _) = docs_script();
        assert_eq!(src, format!("/docs/redoc-{version}.standalone.js"));
        let readme = include_str!("../../static/redoc/README.md");
        assert!(readme.contains(&format!("**{version}**")), "{readme}");
        let npm = root.join("node_modules/redoc");
        let Ok(installed) = std::fs::read_to_string(npm.join("package.json")) else {
            eprintln!("node_modules/redoc is not installed (npm ci): not compared");
            return;
        };
        let installed: serde_json::Value = serde_json::from_str(&installed).unwrap();
        assert_eq!(installed["version"], version, "run npm ci");
        let file = std::fs::read(npm.join("bundles/redoc.standalone.js")).unwrap();
        assert!(
            file == REDOC.as_bytes(),
            "shared/static/redoc/redoc.standalone.js differs from the npm package's"
        );
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

    #[test]
    fn other_methods_on_any_api_path_get_405_with_the_methods_it_has() {
        // On AWS these reach `web` through the `$default` route.
        for (method, path, allow) in [
            ("PUT", "/v1/profile", "GET, DELETE"),
            ("PUT", "/v1/profile/invite-code", "POST"),
            ("GET", "/v1/auth/send-code", "POST"),
            ("TRACE", "/v1/auth/verify-code", "POST"),
            ("PATCH", "/v1/profile/referrals", "GET"),
            ("HEAD", "/v1/auth/logout", "POST"),
            ("POST", "/openapi.json", "GET"),
        ] {
            let resp = get(method, path);
            assert_eq!(resp.status(), 405, "{method} {path}");
            assert_eq!(resp.headers()["allow"], allow, "{method} {path}");
            assert_eq!(resp.headers()[CONTENT_TYPE], "application/problem+json");
            let body: serde_json::Value = serde_json::from_str(&text(&resp)).unwrap();
            assert_eq!(body["code"], "method_not_allowed");
        }
    }

    #[test]
    fn the_served_document_states_the_configured_code_length() {
        let event = crate::testing::event("GET", "/openapi.json", &[], None);
        let req = lambda_http::request::from_str(&event).unwrap();
        let site = Site::new(Settings {
            otp_digits: 6,
            demo_mode: false,
            captcha: CaptchaProvider::None,
        });
        let doc: serde_json::Value = serde_json::from_str(&text(&site.handle(&req))).unwrap();
        let pattern =
            doc["components"]["schemas"]["VerifyCodeRequest"]["properties"]["code"]["pattern"]
                .as_str()
                .unwrap();
        assert!(pattern.contains("[0-9]{6}"), "{pattern}");
    }
}
