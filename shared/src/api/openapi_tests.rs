//! Unit tests of the OpenAPI document: its routes, problems, headers and every bound checked
//! against the parsers and constants it states.
use std::collections::BTreeSet;

use regex::Regex;
use serde_json::Value;

use super::*;
use crate::config::TOKEN_TTL_SECONDS_RANGE;
use crate::domain::otp::MAX_CODE_INPUT_LEN;
use crate::domain::{invite, phone};
use crate::http::cursor;
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
    let codes_429 = &verify["429"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
        ["code"]["enum"];
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
        assert_eq!(
            text.chars().count(),
            super::bounds_tests::TIMESTAMP_LEN,
            "{text}"
        );
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
