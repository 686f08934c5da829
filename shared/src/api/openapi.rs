//! The OpenAPI 3.1 document, generated from the request and response types and the handlers'
//! annotations, so it cannot drift from the code.
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{profile, send_code, verify_code};
use crate::error::ProblemCode;
use crate::http::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Referral API",
        version = "1.0.0",
        description = "Phone-number login with one-time codes, and invite codes.\n\nLog in with `send-code` then `verify-code`; send the token as `Authorization: Bearer <token>`. Every error is `application/problem+json` (RFC 9457) with a stable `code`."
    ),
    paths(
        send_code::handle,
        verify_code::handle,
        profile::logout,
        profile::get_profile,
        profile::activate,
        profile::list_referrals
    ),
    components(schemas(Problem, ProblemCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Log in and out"),
        (name = "profile", description = "The logged-in user's profile, invite code and referrals")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON, as `GET /openapi.json` serves it.
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;
    use crate::routes::{Function, ROUTES};

    #[test]
    fn the_document_is_openapi_3_1_and_has_exactly_the_api_routes() {
        let doc: Value = serde_json::from_str(&document()).unwrap();
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
    fn every_problem_code_is_documented_and_authenticated_routes_need_the_bearer_scheme() {
        let doc: Value = serde_json::from_str(&document()).unwrap();
        let codes = doc["components"]["schemas"]["ProblemCode"]["enum"]
            .as_array()
            .unwrap();
        assert!(codes.contains(&Value::from("invalid_code")));
        assert!(codes.contains(&Value::from("mutual_referral")));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(
            doc["paths"]["/v1/profile"]["get"]["security"][0]["bearer"],
            serde_json::json!([])
        );
        assert!(
            doc["paths"]["/v1/auth/send-code"]["post"]
                .get("security")
                .is_none()
        );
    }
}
