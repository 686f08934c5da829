//! The OpenAPI 3.1 document: the shapes and bounds come from the request and response types and
//! the handlers' annotations (utoipa; a unit test holds each bound to the constant its validator
//! uses); what follows the configuration, and every error response, header, server and link, is
//! stated here from the settings and tables the code itself uses, so the two cannot drift. Redocly, Spectral (with the OWASP ruleset) and schemathesis check the served result.
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::{profile, send_code, verify_code};
use crate::config::CaptchaProvider;
use crate::error::ProblemCode;
use crate::http::Problem;
use crate::routes::{Operation, ROUTES};
use crate::usecases::{login::FAILURES, send_code::SENDS};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Referral API",
        version = "1.0.0",
        description = "Phone-number login with one-time codes, and invite codes.\n\nLog in with `send-code` then `verify-code`; send the token as `Authorization: Bearer <token>`. Every error is `application/problem+json` (RFC 9457) with a stable `code`; each operation lists the codes it can answer.",
        contact(name = "Referral API maintainers")
    ),
    paths(
        send_code::handle,
        verify_code::handle,
        profile::logout,
        profile::get_profile,
        profile::activate,
        profile::list_referrals,
        profile::delete_account
    ),
    components(schemas(Problem, ProblemCode)),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "profile", description = "The logged-in user's profile, invite code and referrals")
    )
)]
pub struct ApiDoc;

/// What the served document depends on in the running configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `OTP_DIGITS`: the login code's length.
    pub otp_digits: u8,
    /// `EXPOSE_CODES`: send-code returns the code, so the login flow can be followed by links.
    pub demo_mode: bool,
    /// `CAPTCHA_PROVIDER`: with one, send-code requires `captcha_token`.
    pub captcha: CaptchaProvider,
}

/// The longest wait a `Retry-After` names: the day-long phone lock.
const MAX_RETRY_AFTER: i64 = 86_400;

/// Exactly the characters `str::trim` removes (Unicode White_Space), as a regex class: what
/// surrounds a trimmed input. ECMA-262's `\s` differs (it adds U+FEFF and lacks U+0085).
pub const TRIMMED: &str =
    r"[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// The document as JSON, as `GET /openapi.json` serves it for this configuration.
pub fn document(settings: Settings) -> String {
    serde_json::to_string_pretty(&value(settings)).unwrap_or_default()
}

/// The document as a JSON value.
pub fn value(settings: Settings) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    servers(&mut doc);
    security(&mut doc);
    constraints(&mut doc, settings);
    responses(&mut doc);
    captcha_token(&mut doc, settings.captcha);
    if settings.demo_mode {
        links(&mut doc);
    } else if let Some(props) = doc
        .pointer_mut("/components/schemas/SendCodeResponse/properties")
        .and_then(Value::as_object_mut)
    {
        // Outside demo mode the code is never returned.
        props.remove("code");
    }
    doc
}

/// send-code's `captcha_token`: required, with the provider named, when there is one; otherwise
/// not part of the request at all (the handler ignores it).
fn captcha_token(doc: &mut Value, provider: CaptchaProvider) {
    let schema = "/components/schemas/SendCodeRequest";
    let Some(request) = doc.pointer_mut(schema).and_then(Value::as_object_mut) else {
        return;
    };
    let widget = match provider {
        CaptchaProvider::None => {
            if let Some(props) = request.get_mut("properties").and_then(Value::as_object_mut) {
                props.remove("captcha_token");
            }
            return;
        }
        CaptchaProvider::Turnstile => "Cloudflare Turnstile",
        CaptchaProvider::Hcaptcha => "hCaptcha",
    };
    request["properties"]["captcha_token"] = json!({
        "type": "string",
        "minLength": 1,
        // What the check accepts: printable ASCII with surrounding whitespace, in all at most
        // the longest token.
        "maxLength": crate::captcha::MAX_TOKEN_LEN,
        "pattern": format!("^{TRIMMED}*[{}]+{TRIMMED}*$", crate::captcha::TOKEN_CHARS),
        "description": format!("The token the {widget} widget gave the page after it was solved; single-use. Checked with the provider before anything is counted or stored: missing is 400 `captcha_required`, refused 403 `captcha_refused`."),
        "example": "XXXX.DUMMY.TOKEN.XXXX",
    });
    match request.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) => required.push(json!("captcha_token")),
        None => {
            request.insert("required".into(), json!(["phone", "captcha_token"]));
        }
    }
}

pub fn code_input_pattern(digits: u8) -> String {
    format!("^{TRIMMED}*[0-9]{{{digits}}}{TRIMMED}*$")
}

fn servers(doc: &mut Value) {
    doc["servers"] = json!([
        {
            "url": "https://{distribution}.cloudfront.net",
            "description": "Production: the edge (CloudFront and AWS WAF) in front of the API, the stack's `ApiUrl` output (`make deploy ENV=prod`); the API itself refuses requests that did not come through it",
            "x-internal": false,
            "variables": {
                "distribution": { "default": "d1234abcd5678", "description": "The CloudFront distribution's domain label, the first label of `ApiUrl`" }
            }
        },
        {
            "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
            "description": "Demo or staging: the deployed API without the edge, the stack's `ApiUrl` output (`make deploy`)",
            "x-internal": false,
            "variables": {
                "apiId": { "default": "abcde12345", "description": "The HTTP API's id, the first label of `ApiUrl`" },
                "region": { "default": "eu-central-1", "description": "The AWS region the stack is deployed in" }
            }
        },
        {
            "url": "http://127.0.0.1:{port}",
            "description": "Local development: the local stack (`make dev`: DynamoDB Local and `cargo lambda watch`), plain HTTP on loopback",
            "x-internal": true,
            "variables": {
                "port": { "default": "9000", "description": "`API_PORT`" }
            }
        }
    ]);
}

fn security(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "The `access_token` of `verify-code`. A JWS following RFC8725 (JSON Web Token Best Current Practices): HS256 only, the `alg` of every token is checked against it (`none` and every other algorithm are refused), `exp`, `iat` and `sub` are required, and a logout revokes every token issued before it."
        }
    });
    for_each_operation(doc, |operation, op| {
        op["security"] = if operation.public() {
            // Public by design: these operations are how a client gets a token.
            json!([])
        } else {
            json!([{ "bearer": [] }])
        };
    });
}

/// Calls `f` with every documented operation and its route-table entry.
fn for_each_operation(doc: &mut Value, mut f: impl FnMut(Operation, &mut Value)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let route = ROUTES
                .iter()
                .find(|r| r.path == path && r.method.eq_ignore_ascii_case(method));
            if let Some(route) = route {
                f(route.operation, op);
            }
        }
    }
}

/// Merges `fields` into the schema at `pointer` (missing schemas are a bug the tests catch).
fn set(doc: &mut Value, pointer: &str, fields: Value) {
    if let (Some(Value::Object(target)), Value::Object(fields)) = (doc.pointer_mut(pointer), fields)
    {
        target.extend(fields);
    }
}

/// What the types cannot state: what follows the running configuration (the code's length) and
/// what comes from a table (the problem titles). Every other bound is stated on its type
/// (`#[schema(..)]`); `the_bounds_stated_on_the_types_are_the_validators_constants` holds each to
/// the constant or pattern its validator uses.
fn constraints(doc: &mut Value, settings: Settings) {
    let s = "/components/schemas";
    let digits = usize::from(settings.otp_digits);
    // Examples of the running length, so they match their patterns.
    let example: String = "48213957".chars().take(digits).collect();
    set(
        doc,
        &format!("{s}/VerifyCodeRequest/properties/code"),
        json!({
            "pattern": code_input_pattern(settings.otp_digits),
            "description": format!("The code that was sent: {digits} digits (`OTP_DIGITS`); surrounding whitespace is trimmed."),
            "example": example,
        }),
    );
    set(
        doc,
        &format!("{s}/SendCodeResponse/properties/code"),
        json!({
            "maxLength": digits,
            "pattern": format!("^[0-9]{{{digits}}}$"),
            "example": example,
            "description": format!("The code itself ({digits} digits), only in demo mode (`EXPOSE_CODES=true`)."),
        }),
    );
    // A `&'static str` field with one value: utoipa states no `enum` for a field.
    set(
        doc,
        &format!("{s}/VerifyCodeResponse/properties/token_type"),
        json!({ "enum": ["Bearer"] }),
    );
    let mut titles: Vec<&str> = all_codes().iter().map(|c| c.status().1).collect();
    titles.sort_unstable();
    titles.dedup();
    set(
        doc,
        &format!("{s}/Problem/properties/title"),
        json!({ "enum": titles }),
    );
}

/// Every problem code: those of the operations and those of routing itself (a test checks the
/// list against the `ProblemCode` enum).
fn all_codes() -> Vec<ProblemCode> {
    let mut codes: Vec<ProblemCode> = ROUTES.iter().flat_map(|r| r.operation.problems()).collect();
    codes.extend([ProblemCode::NotFound, ProblemCode::MethodNotAllowed]);
    codes
}

/// The error responses of every operation, from its list of problem codes, and the headers of
/// all its responses.
fn responses(doc: &mut Value) {
    doc["components"]["schemas"]["GatewayMessage"] = json!({
        "type": "object",
        "description": "API Gateway's own answer, without a function's: its stage throttle (429), a body over its 10 MB (413), a function that could not answer (500), no answer within 30 s (503).",
        "required": ["message"],
        "properties": { "message": { "type": "string", "maxLength": 64, "pattern": "^[A-Za-z ]+$" } }
    });
    doc["components"]["headers"] = json!({
        "Retry-After": {
            "description": "Seconds to wait before trying again: on every problem+json answer with this status (API Gateway's own answers carry none)",
            "schema": { "type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_RETRY_AFTER }
        },
        "Access-Control-Allow-Origin": {
            "description": "Added by API Gateway (`CorsConfiguration` in template.yaml) when the request carries an `Origin`: any site may call the API; the token, not a cookie, authenticates",
            "schema": { "type": "string", "enum": ["*"] }
        },
        "WWW-Authenticate": {
            "description": "RFC 6750: a bare challenge without a token, `invalid_token` with a bad one",
            "required": true,
            "schema": { "type": "string", "enum": ["Bearer", "Bearer error=\"invalid_token\""] }
        },
        "RateLimit": rate_limit_header(false),
        "RateLimit-Policy": rate_limit_header(true),
    });
    for_each_operation(doc, |operation, op| {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        // The error answers come from the table, not from annotations.
        responses.retain(|status, _| status.starts_with('2'));
        let mut by_status: BTreeMap<u16, Vec<ProblemCode>> = BTreeMap::new();
        for code in operation.problems() {
            by_status
                .entry(code.status().0.as_u16())
                .or_default()
                .push(code);
        }
        // API Gateway answers these on every route by itself.
        for status in [429, 500, 503] {
            by_status.entry(status).or_default();
        }
        for (status, codes) in by_status {
            responses.insert(
                status.to_string(),
                problem_response(operation, status, &codes),
            );
        }
        for response in responses.values_mut() {
            let headers = response["headers"].as_object_mut().map(std::mem::take);
            let mut headers = headers.unwrap_or_default();
            headers.insert(
                "Access-Control-Allow-Origin".into(),
                header_ref("Access-Control-Allow-Origin"),
            );
            if quota_name(operation).is_some() {
                headers.insert("RateLimit".into(), header_ref("RateLimit"));
                headers.insert("RateLimit-Policy".into(), header_ref("RateLimit-Policy"));
            }
            response["headers"] = Value::Object(headers);
        }
    });
}

/// The per-client limit whose standing an operation's answers carry (see `http::with_quota`).
fn quota_name(operation: Operation) -> Option<&'static str> {
    match operation {
        Operation::SendCode => Some(SENDS),
        Operation::VerifyCode => Some(FAILURES),
        _ => None,
    }
}

fn rate_limit_header(policy: bool) -> Value {
    let names = format!("(\"{SENDS}\"|\"{FAILURES}\")");
    let (pattern, description) = if policy {
        (
            format!("^{names};q=[0-9]+;w=[0-9]+$"),
            format!(
                "IETF draft-ietf-httpapi-ratelimit-headers: the per-client (source address) limit, `\"{SENDS}\"` codes an hour at send-code (`IP_MAX_SENDS_PER_HOUR`), `\"{FAILURES}\"` wrong codes an hour at verify-code (`IP_MAX_FAILURES_PER_HOUR`). Absent on an answer refused before the client's counter is read (a malformed request)."
            ),
        )
    } else {
        (
            format!("^{names};r=[0-9]+;t=[0-9]+$"),
            "IETF draft-ietf-httpapi-ratelimit-headers: what is left of the per-client limit (`r`) and in how many seconds its window ends (`t`). Absent like `RateLimit-Policy`.".to_owned(),
        )
    };
    json!({
        "description": description,
        "schema": { "type": "string", "maxLength": 64, "pattern": pattern }
    })
}

fn header_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

fn problem_response(operation: Operation, status: u16, codes: &[ProblemCode]) -> Value {
    let mut lines: Vec<String> = codes
        .iter()
        .map(|c| format!("- `{}`: {}", c.as_str(), c.status().1))
        .collect();
    let mut content = Map::new();
    if !codes.is_empty() {
        let names: Vec<String> = codes.iter().map(|c| c.as_str()).collect();
        content.insert(
            "application/problem+json".into(),
            json!({ "schema": {
                "allOf": [
                    { "$ref": "#/components/schemas/Problem" },
                    { "type": "object", "properties": {
                        "code": { "type": "string", "enum": names },
                        "status": { "type": "integer", "format": "int32", "enum": [status], "minimum": status, "maximum": status }
                    } }
                ]
            } }),
        );
    }
    let mut headers = Map::new();
    // docs/deploy.md, "What API Gateway answers by itself": its stage throttle, a body over its
    // 10 MB, a function that could not answer, no answer in 30 s.
    if matches!(status, 413 | 429 | 500 | 503) {
        lines.push("- API Gateway's own answer (`application/json`)".into());
        content.insert(
            "application/json".into(),
            json!({ "schema": { "$ref": "#/components/schemas/GatewayMessage" } }),
        );
    }
    if status == 429 || status == 503 {
        headers.insert("Retry-After".into(), header_ref("Retry-After"));
    }
    if status == 401 && !operation.public() {
        headers.insert("WWW-Authenticate".into(), header_ref("WWW-Authenticate"));
    }
    json!({
        "description": lines.join("\n"),
        "headers": headers,
        "content": content,
    })
}

/// OpenAPI links: the login flow (send-code's `code`, in demo mode, into verify-code; its token
/// into the authenticated operations), so schemathesis's stateful phase can walk it.
fn links(doc: &mut Value) {
    let token = json!({ "header.Authorization": "Bearer {$response.body#/access_token}" });
    let with_token = |operation_id: &str, description: &str| json!({ "operationId": operation_id, "description": description, "parameters": token });
    let verify_links = json!({
        "GetProfile": with_token("get_profile", "The new token reads my profile"),
        "ListReferrals": with_token("list_referrals", "The new token lists my referrals"),
        "ActivateInviteCode": with_token("activate_invite_code", "The new token activates an invite code"),
        "Logout": with_token("logout", "The new token logs out"),
    });
    for_each_operation(doc, |operation, op| match operation {
        Operation::SendCode => {
            op["responses"]["200"]["links"] = json!({
                "VerifyCode": {
                    "operationId": "verify_code",
                    "description": "Log in with the code just sent (demo mode returns it)",
                    "requestBody": { "phone": "$response.body#/phone", "code": "$response.body#/code" }
                }
            });
        }
        Operation::VerifyCode => {
            op["responses"]["200"]["links"] = verify_links.clone();
            op["responses"]["201"]["links"] = verify_links.clone();
        }
        _ => {}
    });
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "openapi_bounds_tests.rs"]
mod bounds_tests;
