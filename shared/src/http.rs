//! The HTTP edge: reading JSON bodies and bearer tokens, and writing JSON and RFC 9457
//! problem+json responses. `problem` is the one place where errors become status codes.
use lambda_http::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{AuthFailure, Error, Result};
use crate::store::StoreError;

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
        Err(e) => problem(&Error::Store(StoreError::Unexpected(format!(
            "serialising a response: {e}"
        )))),
    }
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Turns a use case's result into the response: errors become problem+json.
pub fn respond(result: Result<Response<Body>>) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

/// The one mapping from [`Error`] to an RFC 9457 problem: status, stable `code`, title, detail,
/// and the headers a client needs to act on it.
pub fn problem(err: &Error) -> Response<Body> {
    use StatusCode as S;
    let mut extra = Map::new();
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    let retry_after = |secs: i64| (RETRY_AFTER, HeaderValue::from(secs.max(1)));
    let (status, code, title) = match err {
        Error::UnsupportedMediaType => (
            S::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
        ),
        Error::PayloadTooLarge(_) => (
            S::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
        ),
        Error::MalformedJson(_) => (S::BAD_REQUEST, "malformed_json", "Malformed JSON"),
        Error::InvalidBody(_) => (S::BAD_REQUEST, "invalid_body", "Invalid request body"),
        Error::InvalidQuery(_) => (S::BAD_REQUEST, "invalid_query", "Invalid query parameter"),
        Error::InvalidCursor => (S::BAD_REQUEST, "invalid_cursor", "Invalid cursor"),
        Error::InvalidPhone => (S::BAD_REQUEST, "invalid_phone", "Invalid phone number"),
        Error::InvalidCodeFormat(_) => {
            (S::BAD_REQUEST, "invalid_code_format", "Invalid code format")
        }
        Error::InvalidInviteCode => (S::BAD_REQUEST, "invalid_invite_code", "Invalid invite code"),
        Error::RouteNotFound => (S::NOT_FOUND, "not_found", "Not found"),
        Error::MethodNotAllowed => (
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
        ),
        Error::Unauthorized(failure) => {
            // RFC 6750: a request without credentials gets a bare challenge.
            let challenge = match failure {
                AuthFailure::Missing => "Bearer",
                _ => "Bearer error=\"invalid_token\"",
            };
            headers.push((WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
            let code = match failure {
                AuthFailure::Missing => "missing_token",
                AuthFailure::Invalid => "invalid_token",
                AuthFailure::Expired => "token_expired",
                AuthFailure::Revoked => "token_revoked",
            };
            (S::UNAUTHORIZED, code, "Unauthorized")
        }
        Error::ResendTooSoon { retry_after: s } => {
            headers.push(retry_after(*s));
            (
                S::TOO_MANY_REQUESTS,
                "resend_too_soon",
                "Too soon for a new code",
            )
        }
        Error::TooManyCodes { retry_after: s } => {
            headers.push(retry_after(*s));
            (S::TOO_MANY_REQUESTS, "too_many_codes", "Too many codes")
        }
        Error::PhoneLocked { retry_after: s } => {
            headers.push(retry_after(*s));
            (
                S::TOO_MANY_REQUESTS,
                "phone_locked",
                "Phone temporarily locked",
            )
        }
        Error::InvalidCode { attempts_left } => {
            extra.insert("attempts_left".into(), json!(attempts_left));
            (S::UNAUTHORIZED, "invalid_code", "Invalid code")
        }
        Error::CodeExpired => (S::UNAUTHORIZED, "code_expired", "Code expired"),
        Error::TooManyAttempts { retry_after: s } => {
            headers.push(retry_after(*s));
            (
                S::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many attempts",
            )
        }
        Error::InviteCodeNotFound => (
            S::NOT_FOUND,
            "invite_code_not_found",
            "Invite code not found",
        ),
        Error::AlreadyActivated => (
            S::CONFLICT,
            "already_activated",
            "Invite code already activated",
        ),
        Error::OwnInviteCode => (
            S::UNPROCESSABLE_ENTITY,
            "own_invite_code",
            "Own invite code",
        ),
        Error::MutualReferral => (
            S::UNPROCESSABLE_ENTITY,
            "mutual_referral",
            "Mutual referral",
        ),
        Error::Store(StoreError::Unavailable(_)) => {
            headers.push(retry_after(1));
            (
                S::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable",
            )
        }
        Error::Store(StoreError::Unexpected(_)) => {
            (S::INTERNAL_SERVER_ERROR, "internal_error", "Internal error")
        }
    };
    let detail = if status.is_server_error() {
        // The cause goes to the log, never to the client.
        tracing::error!(error = %err, problem = code, "request failed");
        "Something went wrong on our side. Please try again later.".to_owned()
    } else {
        tracing::info!(problem = code, "request refused");
        err.to_string()
    };
    let mut body = Map::new();
    body.insert("type".into(), json!(format!("/problems/{code}")));
    body.insert("title".into(), json!(title));
    body.insert("status".into(), json!(status.as_u16()));
    body.insert("detail".into(), json!(detail));
    body.insert("code".into(), json!(code));
    body.extend(extra);
    response(
        status,
        "application/problem+json",
        Value::Object(body).to_string(),
        &headers,
    )
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
        let resp = problem(&Error::InvalidCode { attempts_left: 3 });
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/problem+json");
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(body["status"], 401);
        assert_eq!(body["code"], "invalid_code");
        assert_eq!(body["attempts_left"], 3);
        assert!(body["title"].is_string() && body["detail"].is_string());
    }

    #[test]
    fn rate_limits_and_outages_say_when_to_retry() {
        let resp = problem(&Error::ResendTooSoon { retry_after: 42 });
        assert_eq!(
            (resp.status().as_u16(), &resp.headers()[RETRY_AFTER]),
            (429, &HeaderValue::from(42))
        );
        let resp = problem(&Error::Store(StoreError::Unavailable("throttled".into())));
        assert_eq!(resp.status().as_u16(), 503);
        assert!(resp.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let resp = problem(&Error::Store(StoreError::Unexpected(
            "table secret-name missing".into(),
        )));
        assert_eq!(resp.status().as_u16(), 500);
        assert!(!String::from_utf8_lossy(resp.body().as_ref()).contains("secret-name"));
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
