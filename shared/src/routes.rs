//! The HTTP contract's route table: every (method, path), the function that serves it and the
//! operation it is. The functions dispatch through it; template.yaml, the local router in the
//! root Cargo.toml and the OpenAPI document are checked against it by tests.

/// The Lambda functions, by their crate and binary names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    SendCode,
    VerifyCode,
    Profile,
    Web,
}

impl Function {
    pub const ALL: [Self; 4] = [Self::SendCode, Self::VerifyCode, Self::Profile, Self::Web];

    pub fn name(self) -> &'static str {
        match self {
            Self::SendCode => "send-code",
            Self::VerifyCode => "verify-code",
            Self::Profile => "profile",
            Self::Web => "web",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    SendCode,
    VerifyCode,
    Logout,
    GetProfile,
    ActivateInviteCode,
    ListReferrals,
    DeleteAccount,
    Page,
    Docs,
    /// ReDoc's script, which `web` serves itself so that `/docs` needs no internet.
    Redoc,
    OpenApi,
}

use crate::error::ProblemCode as C;

/// What every operation with a JSON body can answer before it reads a field.
const BODY: [C; 4] = [
    C::UnsupportedMediaType,
    C::PayloadTooLarge,
    C::MalformedJson,
    C::InvalidBody,
];
/// What every authenticated operation answers to a missing or bad token.
const TOKEN: [C; 4] = [
    C::MissingToken,
    C::InvalidToken,
    C::TokenExpired,
    C::TokenRevoked,
];
/// What every operation answers, behind the edge only (`EDGE_SECRET`), to a request that did not
/// come through it.
const EDGE: [C; 1] = [C::DirectAccessRefused];
/// What every operation that reads or writes DynamoDB can answer.
const SERVER: [C; 2] = [C::ServiceUnavailable, C::InternalError];

impl Operation {
    /// Every problem `code` the operation can answer with: the one table the OpenAPI document
    /// builds each operation's error responses from (status, description, the `code` enum), so
    /// the document cannot list a code the handler never sends, nor miss one it sends (the API
    /// tests check every problem they receive against this list).
    pub fn problems(self) -> Vec<C> {
        let only: &[C] = match self {
            Self::SendCode => &[
                C::InvalidPhone,
                // Only with a CAPTCHA configured (`CAPTCHA_PROVIDER`).
                C::CaptchaRequired,
                C::CaptchaRefused,
                C::CaptchaUnavailable,
                C::RegionNotAllowed,
                C::NotAMobileNumber,
                C::ResendTooSoon,
                C::TooManyCodes,
                C::PhoneLocked,
                C::ClientSendLimit,
                C::SmsBudgetExhausted,
                C::SmsUnavailable,
            ],
            Self::VerifyCode => &[
                C::InvalidPhone,
                C::InvalidCodeFormat,
                C::InvalidCode,
                C::TooManyAttempts,
                C::PhoneLocked,
                C::ClientFailureLimit,
            ],
            Self::ActivateInviteCode => &[
                C::InvalidInviteCode,
                C::InviteCodeNotFound,
                C::AlreadyActivated,
                C::OwnInviteCode,
                C::MutualReferral,
            ],
            Self::ListReferrals => &[C::InvalidQuery, C::InvalidCursor],
            Self::DeleteAccount => &[C::ReauthenticationRequired],
            Self::Logout | Self::GetProfile => &[],
            // Only behind the edge (`EDGE_SECRET`), and before anything else.
            Self::Page | Self::Docs | Self::Redoc | Self::OpenApi => {
                return vec![C::DirectAccessRefused];
            }
        };
        let body: &[C] = if self.reads_a_body() { &BODY } else { &[] };
        let token: &[C] = if self.public() { &[] } else { &TOKEN };
        [&EDGE, body, token, only, &SERVER].concat()
    }

    /// Whether the operation takes a JSON body.
    pub fn reads_a_body(self) -> bool {
        matches!(
            self,
            Self::SendCode | Self::VerifyCode | Self::ActivateInviteCode
        )
    }

    /// Public by design: logging in cannot need a token. Everything else under `/v1` does.
    pub fn public(self) -> bool {
        matches!(
            self,
            Self::SendCode
                | Self::VerifyCode
                | Self::Page
                | Self::Docs
                | Self::Redoc
                | Self::OpenApi
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub function: Function,
    pub operation: Operation,
}

const fn route(
    method: &'static str,
    path: &'static str,
    function: Function,
    operation: Operation,
) -> Route {
    Route {
        method,
        path,
        function,
        operation,
    }
}

pub const ROUTES: &[Route] = &[
    route(
        "POST",
        "/v1/auth/send-code",
        Function::SendCode,
        Operation::SendCode,
    ),
    route(
        "POST",
        "/v1/auth/verify-code",
        Function::VerifyCode,
        Operation::VerifyCode,
    ),
    route(
        "POST",
        "/v1/auth/logout",
        Function::Profile,
        Operation::Logout,
    ),
    route(
        "GET",
        "/v1/profile",
        Function::Profile,
        Operation::GetProfile,
    ),
    route(
        "POST",
        "/v1/profile/invite-code",
        Function::Profile,
        Operation::ActivateInviteCode,
    ),
    route(
        "GET",
        "/v1/profile/referrals",
        Function::Profile,
        Operation::ListReferrals,
    ),
    route(
        "DELETE",
        "/v1/profile",
        Function::Profile,
        Operation::DeleteAccount,
    ),
    route("GET", "/", Function::Web, Operation::Page),
    route("GET", "/docs", Function::Web, Operation::Docs),
    // The version is in the path, so browsers may keep the script for good (shared/static/redoc/).
    route(
        "GET",
        "/docs/redoc-2.5.1.standalone.js",
        Function::Web,
        Operation::Redoc,
    ),
    route("GET", "/openapi.json", Function::Web, Operation::OpenApi),
];

/// Why a request matches no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists with other methods, listed as an `Allow` header says them.
    MethodNotAllowed {
        allow: String,
    },
}

/// The route `function` serves for this request. A known path asked with another method is
/// refused with the methods it has, whichever function asks: `web` gets those requests on AWS,
/// as the `$default` route, since API Gateway matches routes by method and path together.
pub fn find(function: Function, method: &str, path: &str) -> Result<&'static Route, NoRoute> {
    let on_path: Vec<&'static Route> = ROUTES.iter().filter(|r| r.path == path).collect();
    match on_path.iter().find(|r| r.method == method) {
        Some(route) if route.function == function => Ok(route),
        // API Gateway never sends a route to another function; refuse it rather than serve it.
        Some(_) => Err(NoRoute::NotFound),
        None if on_path.is_empty() => Err(NoRoute::NotFound),
        None => Err(NoRoute::MethodNotAllowed {
            allow: on_path
                .iter()
                .map(|r| r.method)
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

impl From<NoRoute> for crate::error::Error {
    fn from(no: NoRoute) -> Self {
        match no {
            NoRoute::NotFound => Self::RouteNotFound,
            NoRoute::MethodNotAllowed { allow } => Self::MethodNotAllowed { allow },
        }
    }
}

/// The operation `function` serves for this request: what every handler asks first.
pub fn operation(
    function: Function,
    req: &lambda_http::Request,
) -> Result<Operation, crate::error::Error> {
    use lambda_http::RequestExt;
    Ok(find(function, req.method().as_str(), req.raw_http_path())?.operation)
}

/// The function that serves a path, as API Gateway routes it.
pub fn function_for(path: &str) -> Option<Function> {
    ROUTES.iter().find(|r| r.path == path).map(|r| r.function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_and_path_is_routed_once() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!((a.method, a.path) != (b.method, b.path), "{a:?} twice");
                assert!(a.operation != b.operation, "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn a_function_finds_its_routes_and_refuses_the_others() {
        assert_eq!(
            find(Function::Profile, "GET", "/v1/profile").map(|r| r.operation),
            Ok(Operation::GetProfile)
        );
        assert_eq!(
            find(Function::Profile, "DELETE", "/v1/profile").map(|r| r.operation),
            Ok(Operation::DeleteAccount)
        );
        assert_eq!(
            find(Function::Profile, "PUT", "/v1/profile"),
            Err(NoRoute::MethodNotAllowed {
                allow: "GET, DELETE".into()
            })
        );
        assert_eq!(
            find(Function::Profile, "POST", "/v1/auth/send-code"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(find(Function::Web, "GET", "/nope"), Err(NoRoute::NotFound));
    }

    #[test]
    fn web_refuses_other_methods_on_every_known_path_with_the_methods_it_has() {
        for route in ROUTES {
            let methods: Vec<&str> = ROUTES
                .iter()
                .filter(|r| r.path == route.path)
                .map(|r| r.method)
                .collect();
            for method in ["DELETE", "PUT", "PATCH", "TRACE", "HEAD", "OPTIONS"] {
                if methods.contains(&method) {
                    continue;
                }
                assert_eq!(
                    find(Function::Web, method, route.path),
                    Err(NoRoute::MethodNotAllowed {
                        allow: methods.join(", ")
                    }),
                    "{method} {}",
                    route.path
                );
            }
        }
        assert_eq!(
            find(Function::Web, "GET", "/v1/profile"),
            Err(NoRoute::NotFound),
            "web never serves another function's route"
        );
    }

    #[test]
    fn every_api_problem_code_belongs_to_some_operation() {
        use crate::error::ProblemCode;
        let listed: Vec<ProblemCode> = ROUTES.iter().flat_map(|r| r.operation.problems()).collect();
        for code in [
            ProblemCode::RegionNotAllowed,
            ProblemCode::NotAMobileNumber,
            ProblemCode::ClientSendLimit,
            ProblemCode::ClientFailureLimit,
            ProblemCode::SmsBudgetExhausted,
            ProblemCode::InvalidCursor,
            ProblemCode::MutualReferral,
        ] {
            assert!(listed.contains(&code), "{code:?}");
        }
        // Only routing itself answers these, for requests that match no operation.
        assert!(!listed.contains(&ProblemCode::NotFound));
        assert!(!listed.contains(&ProblemCode::MethodNotAllowed));
    }
}
