//! The HTTP edge: reading JSON bodies and bearer tokens, and writing JSON and RFC 9457
//! problem+json responses. `problem` is the one place where errors become responses, and where
//! they are counted.
use lambda_http::http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::Quota;
use crate::error::{AuthFailure, Chain, Error, ProblemCode, Result};

pub mod cursor;
pub mod origin;

pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Parses a JSON body, insisting on a JSON `Content-Type` and at most [`MAX_BODY_BYTES`].
pub fn read_json<T: DeserializeOwned>(req: &Request) -> Result<T> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    if !is_json {
        return Err(Error::UnsupportedMediaType);
    }
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(MAX_BODY_BYTES));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::MalformedJson("the body is empty".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Error::InvalidBody(e.to_string()),
        _ => Error::MalformedJson(e.to_string()),
    })
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(req: &Request) -> Result<&str> {
    let missing = Error::Unauthorized(AuthFailure::Missing);
    let header = req.headers().get(AUTHORIZATION).ok_or(missing)?;
    let value = header
        .to_str()
        .map_err(|_| Error::Unauthorized(AuthFailure::Invalid))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(Error::Unauthorized(AuthFailure::Invalid)),
    }
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => response(status, "application/json", text, &[]),
        Err(e) => problem(&Error::Internal(Box::new(e))),
    }
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Adds the client's standing under a limit as the IETF draft fields (draft-ietf-httpapi-
/// ratelimit-headers): `RateLimit-Policy: "sends";q=10;w=3600` names the limit, `RateLimit:
/// "sends";r=7;t=1800` says what is left of it and for how many more seconds.
pub fn with_quota(mut resp: Response<Body>, quota: Option<Quota>) -> Response<Body> {
    let Some(q) = quota else { return resp };
    let policy = format!("\"{}\";q={};w=3600", q.name, q.limit);
    let standing = format!("\"{}\";r={};t={}", q.name, q.remaining, q.reset_in.max(0));
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, standing)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Turns a use case's result into the response: errors become problem+json.
pub fn respond(result: Result<Response<Body>>) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

/// An RFC 9457 problem, as every error response carries it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A relative URI naming the problem type: `/problems/<code>`.
    #[serde(rename = "type")]
    #[schema(
        example = "/problems/invalid_code",
        max_length = 64,
        pattern = "^/problems/[a-z_]+$"
    )]
    pub problem_type: String,
    // The titles it takes come from the problem codes' table: `openapi` adds them.
    #[schema(example = "Invalid code", max_length = 64)]
    pub title: &'static str,
    #[schema(example = 401, minimum = 400, maximum = 599)]
    pub status: u16,
    /// A sentence for people; match on `code`, not on this.
    #[schema(example = "the code is wrong", max_length = 300)]
    pub detail: String,
    pub code: ProblemCode,
    /// Only with `invalid_code`, and only to the client that asked for the pending code: the
    /// wrong tries left on it. Absent for everyone else and whenever no code is live.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 3, minimum = 0, maximum = 100)]
    pub attempts_left: Option<u32>,
}

/// Renders an [`Error`] as an RFC 9457 problem with the headers a client needs to act on it.
/// Server errors say nothing of their cause to the client; the cause chain goes to the log.
pub fn problem(err: &Error) -> Response<Body> {
    let code = err.code();
    crate::metrics::record(crate::metrics::Event::Problem(code));
    let (status, title) = code.status();
    let code_text = code.as_str();
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    if let Some(secs) = err.retry_after() {
        headers.push((RETRY_AFTER, HeaderValue::from(secs.max(1))));
    }
    if let Error::Unauthorized(failure) = err {
        // RFC 6750: a request without credentials gets a bare challenge.
        let challenge = match failure {
            AuthFailure::Missing => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        };
        headers.push((WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
    }
    if let Error::ReauthenticationRequired { .. } = err {
        // A 401 names its scheme (RFC 9110): this token is valid, but too old for the operation.
        headers.push((
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer error=\"invalid_token\", error_description=\"a recent login is required\"",
            ),
        ));
    }
    if let Error::MethodNotAllowed { allow } = err
        && let Ok(value) = HeaderValue::from_str(allow)
    {
        // RFC 9110: a 405 must say which methods the path has.
        headers.push((ALLOW, value));
    }
    let detail = if matches!(err, Error::Internal(_) | Error::Unavailable(_)) {
        tracing::error!(error = %Chain(err), problem = code_text, "request failed");
        "Something went wrong on our side. Please try again later.".to_owned()
    } else if status.is_server_error() {
        tracing::error!(error = %Chain(err), problem = code_text, "request failed");
        err.to_string()
    } else {
        tracing::info!(problem = code_text, "request refused");
        err.to_string()
    };
    let detail = truncate(detail, MAX_DETAIL_CHARS);
    let attempts_left = match err {
        Error::InvalidCode { attempts_left } => *attempts_left,
        _ => None,
    };
    let body = Problem {
        problem_type: format!("/problems/{code_text}"),
        title,
        status: status.as_u16(),
        detail,
        code,
        attempts_left,
    };
    let text = serde_json::to_string(&body).unwrap_or_default();
    response(status, "application/problem+json", text, &headers)
}

/// The longest `detail` a problem carries: a parser's message can quote the request, and the
/// OpenAPI document promises clients a bound.
pub const MAX_DETAIL_CHARS: usize = 300;

fn truncate(mut text: String, max_chars: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max_chars) {
        text.truncate(at);
    }
    text
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    headers: &[(HeaderName, HeaderValue)],
) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Responses carry codes, tokens and phone numbers: no cache may keep them.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for (name, value) in headers {
        h.insert(name.clone(), value.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use lambda_http::http::Request as HttpRequest;
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Phone {
        #[allow(dead_code)]
        phone: String,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut b = HttpRequest::builder()
            .method("POST")
            .uri("/v1/auth/send-code");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    }

    fn code_of(err: Error) -> (u16, String) {
        let resp = problem(&err);
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        (
            resp.status().as_u16(),
            body["code"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        assert!(
            read_json::<Phone>(&request(
                Some("application/json; charset=utf-8"),
                r#"{"phone":"1"}"#
            ))
            .is_ok()
        );
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let err = read_json::<Phone>(&request(ct, r#"{"phone":"1"}"#)).unwrap_err();
            assert_eq!(
                code_of(err),
                (415, "unsupported_media_type".into()),
                "{ct:?}"
            );
        }
    }

    #[test]
    fn malformed_and_mistyped_bodies_get_distinct_codes() {
        let cases = [
            ("", "malformed_json"),
            ("{", "malformed_json"),
            ("not json", "malformed_json"),
            ("{}", "invalid_body"),
            (r#"{"phone": 5}"#, "invalid_body"),
            ("[]", "invalid_body"),
        ];
        for (body, code) in cases {
            let err = read_json::<Phone>(&request(Some("application/json"), body)).unwrap_err();
            assert_eq!(code_of(err), (400, code.into()), "{body}");
        }
    }

    #[test]
    fn bodies_over_16_kib_are_refused() {
        let big = format!(r#"{{"phone":"{}"}}"#, "1".repeat(MAX_BODY_BYTES));
        let err = read_json::<Phone>(&request(Some("application/json"), &big)).unwrap_err();
        assert_eq!(code_of(err), (413, "payload_too_large".into()));
    }

    #[test]
    fn problems_are_problem_json_with_status_title_detail_and_code() {
        let resp = problem(&Error::InvalidCode {
            attempts_left: Some(3),
        });
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/problem+json");
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(body["status"], 401);
        assert_eq!(body["code"], "invalid_code");
        assert_eq!(body["attempts_left"], 3);
        assert!(body["title"].is_string() && body["detail"].is_string());
    }

    #[test]
    fn an_invalid_code_without_a_live_one_has_no_attempts_left_field() {
        let resp = problem(&Error::InvalidCode {
            attempts_left: None,
        });
        let text = String::from_utf8(resp.body().as_ref().to_vec()).unwrap();
        assert!(!text.contains("attempts_left"), "{text}");
        assert!(text.contains("\"code\":\"invalid_code\""), "{text}");
    }

    #[test]
    fn rate_limits_and_outages_say_when_to_retry() {
        let resp = problem(&Error::ResendTooSoon { retry_after: 42 });
        assert_eq!(
            (resp.status().as_u16(), &resp.headers()[RETRY_AFTER]),
            (429, &HeaderValue::from(42))
        );
        let resp = problem(&Error::Unavailable("throttled".into()));
        assert_eq!(resp.status().as_u16(), 503);
        assert!(resp.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let resp = problem(&Error::Internal("table secret-name missing".into()));
        assert_eq!(resp.status().as_u16(), 500);
        assert!(!String::from_utf8_lossy(resp.body().as_ref()).contains("secret-name"));
    }

    #[test]
    fn a_method_not_allowed_says_which_methods_the_path_has() {
        let resp = problem(&Error::MethodNotAllowed {
            allow: "GET".into(),
        });
        assert_eq!(resp.status().as_u16(), 405);
        assert_eq!(resp.headers()[ALLOW], "GET");
    }

    #[test]
    fn problem_details_are_cut_to_their_documented_length() {
        let long = Error::InvalidBody("é".repeat(MAX_DETAIL_CHARS * 2));
        let body: Value = serde_json::from_slice(problem(&long).body().as_ref()).unwrap();
        let detail = body["detail"].as_str().unwrap();
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
        let short = problem(&Error::InvalidPhone);
        let body: Value = serde_json::from_slice(short.body().as_ref()).unwrap();
        assert_eq!(body["detail"], "not a valid phone number");
    }

    #[test]
    fn token_failures_carry_a_bearer_challenge() {
        for failure in [
            AuthFailure::Missing,
            AuthFailure::Invalid,
            AuthFailure::Expired,
            AuthFailure::Revoked,
        ] {
            let resp = problem(&Error::Unauthorized(failure));
            assert_eq!(resp.status().as_u16(), 401);
            assert!(
                resp.headers()[WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let with = |value: &str| {
            HttpRequest::builder()
                .header(AUTHORIZATION, value)
                .body(Body::Empty)
                .unwrap()
        };
        assert_eq!(bearer_token(&with("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&with("bearer  abc ")).unwrap(), "abc");
        assert!(matches!(
            bearer_token(&with("Basic abc")),
            Err(Error::Unauthorized(AuthFailure::Invalid))
        ));
        assert!(matches!(
            bearer_token(&with("Bearer ")),
            Err(Error::Unauthorized(AuthFailure::Invalid))
        ));
        let none = HttpRequest::builder().body(Body::Empty).unwrap();
        assert!(matches!(
            bearer_token(&none),
            Err(Error::Unauthorized(AuthFailure::Missing))
        ));
    }
}
