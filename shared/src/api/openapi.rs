//! The OpenAPI 3.1 document: the shapes come from the request and response types and the
//! handlers' annotations (utoipa); every bound, pattern, error response, header, server and link
//! is then stated here from the constants and tables the code itself uses, so the two cannot
//! drift. Redocly, Spectral (with the OWASP ruleset) and schemathesis check the served result.
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::{profile, send_code, verify_code};
use crate::config::{
    CaptchaProvider, OTP_MAX_ATTEMPTS_RANGE, OTP_RESEND_SECONDS_RANGE, OTP_TTL_SECONDS_RANGE,
    TOKEN_TTL_SECONDS_RANGE,
};
use crate::domain::otp::MAX_CODE_INPUT_LEN;
use crate::domain::{invite, phone};
use crate::error::ProblemCode;
use crate::http::{MAX_DETAIL_CHARS, Problem, cursor};
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

/// The longest E.164 number: `+` and 15 digits.
pub const MAX_E164_LEN: usize = 16;
/// Longest access token: three base64url parts of a fixed header, the claims (a UUID, three
/// integers) and an HS256 signature come to under 300; `tokens_fit_the_documented_length` checks.
pub const MAX_TOKEN_LEN: usize = 512;
/// `2026-11-23T04:01:10.120Z`: what `clock::rfc3339` writes for any year 0-9999.
const TIMESTAMP_LEN: usize = 24;
/// The longest wait a `Retry-After` names: the day-long phone lock.
const MAX_RETRY_AFTER: i64 = 86_400;
/// Every referral is a distinct user, every user a distinct E.164 number: at most 10^15 - 1.
const MAX_REFERRALS: i64 = 999_999_999_999_999;

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

pub fn phone_input_pattern() -> String {
    let chars: String = phone::INPUT_CHARS
        .chars()
        .map(|c| match c {
            '-' | '(' | ')' | '.' | '+' => format!(r"\{c}"),
            c => c.to_string(),
        })
        .collect();
    // At least one digit: all-space input is empty once trimmed.
    format!("^{TRIMMED}*[{chars}]*[0-9][{chars}]*{TRIMMED}*$")
}

pub fn code_input_pattern(digits: u8) -> String {
    format!("^{TRIMMED}*[0-9]{{{digits}}}{TRIMMED}*$")
}

pub fn invite_input_pattern() -> String {
    format!(
        "^{TRIMMED}*[{}]{{{}}}{TRIMMED}*$",
        alphabet_class(true),
        invite::INVITE_CODE_LEN
    )
}

pub fn invite_code_pattern() -> String {
    format!(
        "^[{}]{{{}}}$",
        alphabet_class(false),
        invite::INVITE_CODE_LEN
    )
}

/// The invite-code alphabet as ranges, with its lower case when input is case-folded.
fn alphabet_class(with_lower: bool) -> String {
    let letters = invite::ALPHABET.iter().filter(|b| b.is_ascii_alphabetic());
    let upper: String = letters.map(|&b| char::from(b)).collect();
    let digits = invite::ALPHABET.iter().any(u8::is_ascii_digit);
    let mut class = String::new();
    if upper == "ABCDEFGHIJKLMNOPQRSTUVWXYZ" {
        class.push_str("A-Z");
        if with_lower {
            class.push_str("a-z");
        }
    }
    if digits {
        class.push_str("0-9");
    }
    class
}

const E164_PATTERN: &str = r"^\+[1-9][0-9]{1,14}$";
const UUID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]*$";
const JWT_PATTERN: &str = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$";

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

fn string(max_len: usize, pattern: &str) -> Value {
    json!({ "maxLength": max_len, "pattern": pattern })
}

fn range(min: i64, max: i64) -> Value {
    json!({ "minimum": min, "maximum": max })
}

fn constraints(doc: &mut Value, settings: Settings) {
    let s = "/components/schemas";
    let phone_input = json!({
        "maxLength": phone::MAX_INPUT_LEN,
        "pattern": phone_input_pattern(),
        // Not every string of these characters is a number: libphonenumber's metadata decides.
        "format": "phone-input",
    });
    set(
        doc,
        &format!("{s}/SendCodeRequest/properties/phone"),
        phone_input.clone(),
    );
    set(
        doc,
        &format!("{s}/VerifyCodeRequest/properties/phone"),
        phone_input,
    );
    set(
        doc,
        &format!("{s}/VerifyCodeRequest/properties/code"),
        string(MAX_CODE_INPUT_LEN, &code_input_pattern(settings.otp_digits)),
    );
    set(
        doc,
        &format!("{s}/ActivateRequest/properties/invite_code"),
        string(invite::MAX_INPUT_LEN, &invite_input_pattern()),
    );

    let e164 = string(MAX_E164_LEN, E164_PATTERN);
    let timestamp = json!({ "format": "date-time", "maxLength": TIMESTAMP_LEN });
    let invite_code = string(invite::INVITE_CODE_LEN, &invite_code_pattern());
    set(
        doc,
        &format!("{s}/SendCodeResponse/properties/phone"),
        e164.clone(),
    );
    set(
        doc,
        &format!("{s}/SendCodeResponse/properties/expires_in"),
        range(*OTP_TTL_SECONDS_RANGE.start(), *OTP_TTL_SECONDS_RANGE.end()),
    );
    set(
        doc,
        &format!("{s}/SendCodeResponse/properties/resend_in"),
        range(
            *OTP_RESEND_SECONDS_RANGE.start(),
            *OTP_RESEND_SECONDS_RANGE.end(),
        ),
    );
    let digits = usize::from(settings.otp_digits);
    // Examples of the running length, so they match their patterns.
    let example: String = "48213957".chars().take(digits).collect();
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
    set(
        doc,
        &format!("{s}/VerifyCodeRequest/properties/code"),
        json!({
            "description": format!("The code that was sent: {digits} digits (`OTP_DIGITS`); surrounding whitespace is trimmed."),
            "example": example,
        }),
    );
    set(
        doc,
        &format!("{s}/VerifyCodeResponse/properties/access_token"),
        string(MAX_TOKEN_LEN, JWT_PATTERN),
    );
    set(
        doc,
        &format!("{s}/VerifyCodeResponse/properties/token_type"),
        json!({ "enum": ["Bearer"] }),
    );
    set(
        doc,
        &format!("{s}/VerifyCodeResponse/properties/expires_in"),
        range(
            *TOKEN_TTL_SECONDS_RANGE.start(),
            *TOKEN_TTL_SECONDS_RANGE.end(),
        ),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/id"),
        json!({ "format": "uuid", "maxLength": 36, "pattern": UUID_PATTERN }),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/phone"),
        e164.clone(),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/invite_code"),
        invite_code.clone(),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/activated_invite_code"),
        invite_code,
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/referrals"),
        json!({ "maxItems": super::PROFILE_REFERRALS }),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/referrals_count"),
        range(0, MAX_REFERRALS),
    );
    set(
        doc,
        &format!("{s}/ProfileView/properties/created_at"),
        timestamp.clone(),
    );
    set(doc, &format!("{s}/ReferralView/properties/phone"), e164);
    set(
        doc,
        &format!("{s}/ReferralView/properties/activated_at"),
        timestamp,
    );
    set(
        doc,
        &format!("{s}/ReferralPage/properties/items"),
        json!({ "maxItems": profile::MAX_PAGE }),
    );
    set(
        doc,
        &format!("{s}/ReferralPage/properties/next_cursor"),
        string(cursor::MAX_CURSOR_LEN, CURSOR_PATTERN),
    );
    set(
        doc,
        &format!("{s}/Problem/properties/type"),
        string(64, "^/problems/[a-z_]+$"),
    );
    let mut titles: Vec<&str> = all_codes().iter().map(|c| c.status().1).collect();
    titles.sort_unstable();
    titles.dedup();
    set(
        doc,
        &format!("{s}/Problem/properties/title"),
        json!({ "maxLength": 64, "enum": titles }),
    );
    set(
        doc,
        &format!("{s}/Problem/properties/detail"),
        json!({ "maxLength": MAX_DETAIL_CHARS }),
    );
    set(
        doc,
        &format!("{s}/Problem/properties/status"),
        range(400, 599),
    );
    set(
        doc,
        &format!("{s}/Problem/properties/attempts_left"),
        range(0, i64::from(*OTP_MAX_ATTEMPTS_RANGE.end())),
    );

    for_each_operation(doc, |operation, op| {
        if operation != Operation::ListReferrals {
            return;
        }
        let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
            return;
        };
        for param in params {
            let name = param["name"].as_str().unwrap_or_default().to_owned();
            match name.as_str() {
                "limit" => {
                    param["schema"]["minimum"] = json!(1);
                    param["schema"]["maximum"] = json!(profile::MAX_PAGE);
                    param["description"] = json!(format!(
                        "Page size, 1-{} (default {})",
                        profile::MAX_PAGE,
                        profile::DEFAULT_PAGE
                    ));
                }
                "cursor" => {
                    let schema = &mut param["schema"];
                    schema["maxLength"] = json!(cursor::MAX_CURSOR_LEN);
                    schema["pattern"] = json!(CURSOR_PATTERN);
                    // Only what the API issued decodes: an opaque format, not every string of
                    // the alphabet. Empty means the first page.
                    schema["format"] = json!("referral-cursor");
                }
                _ => {}
            }
        }
    });
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
mod tests {
    use std::collections::BTreeSet;

    use regex::Regex;
    use serde_json::Value;

    use super::*;
    use crate::routes::{Function, ROUTES};

    const DEMO: Settings = Settings {
        otp_digits: 4,
        demo_mode: true,
        captcha: CaptchaProvider::None,
    };

    fn doc() -> Value {
        value(DEMO)
    }

    fn field<'a>(doc: &'a Value, schema: &str, name: &str) -> &'a Value {
        &doc["components"]["schemas"][schema]["properties"][name]
    }

    fn pattern(schema: &Value) -> Regex {
        Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
    }

    /// Whether a string meets a schema's `maxLength` and `pattern` (JSON Schema counts
    /// characters, not bytes).
    fn admits(schema: &Value, text: &str) -> bool {
        let max = schema["maxLength"].as_u64().unwrap() as usize;
        text.chars().count() <= max && pattern(schema).is_match(text)
    }

    #[test]
    fn the_document_is_openapi_3_1_and_has_exactly_the_api_routes() {
        let doc = doc();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .filter(|r| r.function != Function::Web)
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn public_operations_say_so_and_the_others_need_the_bearer_scheme() {
        let doc = doc();
        let scheme = &doc["components"]["securitySchemes"]["bearer"];
        assert_eq!(scheme["scheme"], "bearer");
        assert!(scheme["description"].as_str().unwrap().contains("RFC8725"));
        assert_eq!(
            doc["paths"]["/v1/profile"]["get"]["security"][0]["bearer"],
            json!([])
        );
        assert_eq!(
            doc["paths"]["/v1/auth/send-code"]["post"]["security"],
            json!([])
        );
        assert_eq!(
            doc["paths"]["/v1/auth/verify-code"]["post"]["security"],
            json!([])
        );
    }

    #[test]
    fn the_servers_are_the_edge_the_demo_api_and_the_local_stack() {
        let doc = doc();
        let urls: Vec<&str> = doc["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "https://{distribution}.cloudfront.net",
                "https://{apiId}.execute-api.{region}.amazonaws.com",
                "http://127.0.0.1:{port}"
            ]
        );
    }

    #[test]
    fn each_operation_documents_exactly_the_problem_codes_of_its_table() {
        let doc = doc();
        for route in ROUTES.iter().filter(|r| r.function != Function::Web) {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            let mut documented = BTreeSet::new();
            for (status, response) in op["responses"].as_object().unwrap() {
                let Some(schema) =
                    response.pointer("/content/application~1problem+json/schema/allOf/1")
                else {
                    continue;
                };
                assert_eq!(
                    schema["properties"]["status"]["enum"][0].to_string(),
                    *status
                );
                for code in schema["properties"]["code"]["enum"].as_array().unwrap() {
                    documented.insert(code.as_str().unwrap().to_owned());
                }
            }
            let table: BTreeSet<String> = route
                .operation
                .problems()
                .iter()
                .map(|c| c.as_str())
                .collect();
            assert_eq!(documented, table, "{} {}", route.method, route.path);
        }
    }

    #[test]
    fn every_problem_code_but_routing_ones_is_answered_by_some_operation() {
        let doc = doc();
        let all: BTreeSet<String> = doc["components"]["schemas"]["ProblemCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        let listed: BTreeSet<String> = ROUTES
            .iter()
            .flat_map(|r| r.operation.problems())
            .map(|c| c.as_str())
            .collect();
        let unlisted: Vec<&String> = all.difference(&listed).collect();
        assert_eq!(unlisted, ["method_not_allowed", "not_found"]);
        let every: BTreeSet<String> = all_codes().iter().map(|c| c.as_str()).collect();
        assert_eq!(every, all);
    }

    #[test]
    fn waits_and_rate_limits_are_documented_where_they_are_sent() {
        let doc = doc();
        let send = &doc["paths"]["/v1/auth/send-code"]["post"]["responses"];
        for status in ["200", "400", "422", "429", "503"] {
            assert!(send[status]["headers"]["RateLimit"].is_object(), "{status}");
            assert!(send[status]["headers"]["RateLimit-Policy"].is_object());
        }
        assert!(send["429"]["headers"]["Retry-After"].is_object());
        assert!(send["503"]["headers"]["Retry-After"].is_object());
        let codes_422 = &send["422"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
            ["code"]["enum"];
        assert_eq!(
            *codes_422,
            json!(["region_not_allowed", "not_a_mobile_number"])
        );
        let verify = &doc["paths"]["/v1/auth/verify-code"]["post"]["responses"];
        let codes_429 = &verify["429"]["content"]["application/problem+json"]["schema"]["allOf"][1]
            ["properties"]["code"]["enum"];
        assert!(
            codes_429
                .as_array()
                .unwrap()
                .contains(&json!("client_failure_limit"))
        );
        let profile = &doc["paths"]["/v1/profile"]["get"]["responses"];
        assert!(profile["200"]["headers"].get("RateLimit").is_none());
        assert!(profile["429"]["content"]["application/json"].is_object());
        assert!(
            profile["429"]["content"]
                .get("application/problem+json")
                .is_none()
        );
        assert_eq!(
            profile["401"]["headers"]["WWW-Authenticate"]["$ref"],
            "#/components/headers/WWW-Authenticate"
        );
    }

    #[test]
    fn the_rate_limit_header_patterns_match_what_the_api_sends() {
        use crate::domain::Quota;
        use lambda_http::{Body, Response};
        let doc = doc();
        let headers = &doc["components"]["headers"];
        for name in [SENDS, FAILURES] {
            let quota = Quota {
                name,
                limit: 10,
                remaining: 7,
                reset_in: 1800,
            };
            let resp = crate::http::with_quota(Response::new(Body::Empty), Some(quota));
            for header in ["RateLimit", "RateLimit-Policy"] {
                let sent = resp.headers()[header].to_str().unwrap();
                assert!(admits(&headers[header]["schema"], sent), "{header}: {sent}");
            }
        }
    }

    fn russia() -> crate::domain::phone::Region {
        crate::domain::phone::parse_region("RU").unwrap()
    }

    #[test]
    fn the_phone_input_schema_admits_exactly_what_the_parser_may_accept() {
        let doc = doc();
        let schema = field(&doc, "SendCodeRequest", "phone");
        assert_eq!(schema["maxLength"], phone::MAX_INPUT_LEN);
        let verify = field(&doc, "VerifyCodeRequest", "phone");
        for key in ["maxLength", "pattern", "format"] {
            assert_eq!(schema[key], verify[key], "{key}");
        }
        let at_limit = format!(
            "{:<width$}",
            "+7 999 123-45-67",
            width = phone::MAX_INPUT_LEN
        );
        for input in [
            "8 (999) 123-45-67",
            "+79991234567",
            "\u{3000}+7 999 123 45 67\n",
            "7.999.123.45.67",
            at_limit.as_str(),
            // Schema-shaped, yet not a number: libphonenumber decides (`format: phone-input`).
            "123",
            "(((1",
        ] {
            assert!(admits(schema, input), "{input:?}");
        }
        for input in [
            "",
            "   ",
            "(((",
            "+7 999 CALL-NOW",
            "+7 999 123 45 67 ext. 89",
            "+７９９９１２３４５６７",
            "\u{feff}+79991234567",
            &format!("{at_limit} "),
        ] {
            assert!(!admits(schema, input), "{input:?}");
            assert!(
                crate::domain::PhoneNumber::parse(input, russia()).is_err(),
                "{input:?}"
            );
        }
        // Everything the parser accepts, the schema admits.
        for input in [
            "8 (999) 123-45-67",
            "\u{2003}+1 650 253 0000\t",
            at_limit.as_str(),
        ] {
            assert!(crate::domain::PhoneNumber::parse(input, russia()).is_ok());
            assert!(admits(schema, input), "{input:?}");
        }
    }

    #[test]
    fn the_trimmed_class_is_exactly_the_whitespace_trim_removes() {
        let class = Regex::new(&format!("^{TRIMMED}$")).unwrap();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                class.is_match(c.encode_utf8(&mut [0; 4])),
                c.is_whitespace(),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn the_code_schema_follows_the_configured_digits_and_the_parser() {
        use crate::domain::OtpCode;
        for digits in crate::config::OTP_DIGITS_RANGE {
            let doc = value(Settings {
                otp_digits: digits,
                demo_mode: true,
                captcha: CaptchaProvider::None,
            });
            let schema = field(&doc, "VerifyCodeRequest", "code");
            assert_eq!(schema["maxLength"], MAX_CODE_INPUT_LEN);
            let exact = "7".repeat(usize::from(digits));
            let cases = [
                exact.clone(),
                format!(" {exact}\u{a0}"),
                "7".repeat(usize::from(digits) + 1),
                "7".repeat(usize::from(digits) - 1),
                String::new(),
                format!("{exact:<width$}", width = MAX_CODE_INPUT_LEN),
                format!("{exact:<width$}", width = MAX_CODE_INPUT_LEN + 1),
                "٣".repeat(usize::from(digits)),
            ];
            for input in &cases {
                let parsed = OtpCode::parse(input, digits).is_ok()
                    && input.chars().count() <= MAX_CODE_INPUT_LEN;
                assert_eq!(admits(schema, input), parsed, "{digits}: {input:?}");
            }
            let sent = field(&doc, "SendCodeResponse", "code");
            let generated = OtpCode::generate(digits);
            assert!(admits(sent, generated.expose()));
        }
    }

    #[test]
    fn every_example_matches_its_own_schema_whatever_the_code_length() {
        for digits in crate::config::OTP_DIGITS_RANGE {
            for demo_mode in [true, false] {
                let doc = value(Settings {
                    otp_digits: digits,
                    demo_mode,
                    captcha: CaptchaProvider::Turnstile,
                });
                let mut checked = 0;
                for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
                    let Some(props) = schema["properties"].as_object() else {
                        continue;
                    };
                    for (field, prop) in props {
                        if let (Some(example), Some(_)) =
                            (prop["example"].as_str(), prop.get("pattern"))
                        {
                            assert!(
                                admits(prop, example),
                                "{digits}: {name}.{field} = {example:?}"
                            );
                            checked += 1;
                        }
                    }
                }
                assert!(checked >= 8, "{checked}");
            }
        }
    }

    #[test]
    fn the_invite_code_schemas_admit_exactly_what_the_parser_accepts() {
        use crate::domain::InviteCode;
        let doc = doc();
        let input = field(&doc, "ActivateRequest", "invite_code");
        assert_eq!(input["maxLength"], invite::MAX_INPUT_LEN);
        let padded = format!("{:<width$}", " x9y8z7", width = invite::MAX_INPUT_LEN);
        for text in [
            "X9Y8Z7",
            "x9y8z7",
            " \tx9Y8z7\u{3000}",
            padded.as_str(),
            &format!("{padded} "),
            "",
            "X9Y8Z",
            "X9Y8Z77",
            "ÄÖÜ123",
            "X9 8Z7",
            "\u{feff}X9Y8Z7",
        ] {
            assert_eq!(
                admits(input, text),
                InviteCode::parse(text).is_ok(),
                "{text:?}"
            );
        }
        let output = field(&doc, "ProfileView", "invite_code");
        for _ in 0..100 {
            assert!(admits(output, InviteCode::generate().as_str()));
        }
    }

    #[test]
    fn the_referral_list_bounds_are_the_page_sizes() {
        let doc = doc();
        assert_eq!(
            field(&doc, "ProfileView", "referrals")["maxItems"],
            super::super::PROFILE_REFERRALS
        );
        assert_eq!(
            field(&doc, "ReferralPage", "items")["maxItems"],
            profile::MAX_PAGE
        );
        let params = &doc["paths"]["/v1/profile/referrals"]["get"]["parameters"];
        let limit = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], profile::MAX_PAGE);
        let cursor_param = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "cursor")
            .unwrap();
        assert_eq!(cursor_param["schema"]["maxLength"], cursor::MAX_CURSOR_LEN);
        let key = crate::domain::ReferralKey {
            activated_at: 253_402_300_799_999,
            user_id: crate::domain::UserId::generate(),
        };
        let issued = cursor::encode(&key);
        assert!(admits(&cursor_param["schema"], &issued), "{issued}");
        assert!(admits(field(&doc, "ReferralPage", "next_cursor"), &issued));
    }

    #[test]
    fn response_values_fit_their_documented_bounds() {
        let doc = doc();
        let e164 = field(&doc, "ProfileView", "phone");
        for phone in ["+79991234567", "+16502530000", "+999999999999999"] {
            assert!(admits(e164, phone), "{phone}");
        }
        let id = crate::domain::UserId::generate();
        assert!(admits(field(&doc, "ProfileView", "id"), id.as_str()));
        let stamp = field(&doc, "ProfileView", "created_at");
        for ms in [0, 1_795_406_072_004, 253_402_300_799_999] {
            let text = crate::clock::rfc3339(ms);
            assert_eq!(text.chars().count(), TIMESTAMP_LEN, "{text}");
            assert!(text.chars().count() <= stamp["maxLength"].as_u64().unwrap() as usize);
        }
        for code in all_codes() {
            let title = field(&doc, "Problem", "title");
            assert!(code.status().1.len() <= title["maxLength"].as_u64().unwrap() as usize);
            assert!(admits(
                field(&doc, "Problem", "type"),
                &format!("/problems/{}", code.as_str())
            ));
        }
    }

    #[test]
    fn tokens_fit_the_documented_length() {
        let tokens = crate::auth::Tokens::new(
            &crate::config::Secret::new(vec![7; 64]),
            *TOKEN_TTL_SECONDS_RANGE.end(),
        );
        let token = tokens.issue(&crate::domain::UserId::generate(), u64::MAX, i64::MAX / 2);
        let doc = doc();
        assert!(admits(
            field(&doc, "VerifyCodeResponse", "access_token"),
            &token
        ));
    }

    #[test]
    fn send_code_asks_for_a_captcha_token_only_when_a_provider_is_configured() {
        let off = doc();
        assert!(field(&off, "SendCodeRequest", "captcha_token").is_null());
        let required = &off["components"]["schemas"]["SendCodeRequest"]["required"];
        assert_eq!(*required, json!(["phone"]));
        for provider in [CaptchaProvider::Turnstile, CaptchaProvider::Hcaptcha] {
            let on = value(Settings {
                captcha: provider,
                ..DEMO
            });
            let token = field(&on, "SendCodeRequest", "captcha_token");
            assert_eq!(token["type"], "string");
            let pattern = pattern(token);
            for ok in [
                "XXXX.DUMMY.TOKEN.XXXX",
                " 0.AbC-_x ",
                "10000000-aaaa-bbbb-cccc-000000000001",
            ] {
                assert!(pattern.is_match(ok), "{ok:?}");
            }
            for bad in ["", "   ", "a b", "tökén", "x\u{0}"] {
                assert!(!pattern.is_match(bad), "{bad:?}");
            }
            let required = &on["components"]["schemas"]["SendCodeRequest"]["required"];
            assert_eq!(*required, json!(["phone", "captcha_token"]));
        }
        // The refusals are documented whatever the setting: the table is one for every stack.
        let send = &off["paths"]["/v1/auth/send-code"]["post"]["responses"];
        let codes_403 = &send["403"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
            ["code"]["enum"];
        assert_eq!(
            *codes_403,
            json!(["direct_access_refused", "captcha_refused"])
        );
    }

    #[test]
    fn links_walk_the_login_flow_only_in_demo_mode() {
        let demo = doc();
        let link =
            &demo["paths"]["/v1/auth/send-code"]["post"]["responses"]["200"]["links"]["VerifyCode"];
        assert_eq!(link["operationId"], "verify_code");
        assert_eq!(link["requestBody"]["code"], "$response.body#/code");
        let verify = &demo["paths"]["/v1/auth/verify-code"]["post"]["responses"];
        for status in ["200", "201"] {
            for (_, link) in verify[status]["links"].as_object().unwrap() {
                assert_eq!(
                    link["parameters"]["header.Authorization"],
                    "Bearer {$response.body#/access_token}"
                );
            }
        }
        let real = value(Settings {
            otp_digits: 6,
            demo_mode: false,
            captcha: CaptchaProvider::None,
        });
        assert!(
            real["paths"]["/v1/auth/send-code"]["post"]["responses"]["200"]
                .get("links")
                .is_none()
        );
        assert!(field(&real, "SendCodeResponse", "code").is_null());
        assert!(
            field(&real, "VerifyCodeRequest", "code")["pattern"]
                .as_str()
                .unwrap()
                .contains("[0-9]{6}")
        );
    }
}
