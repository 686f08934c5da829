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
    Page,
    Docs,
    OpenApi,
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
    route("GET", "/", Function::Web, Operation::Page),
    route("GET", "/docs", Function::Web, Operation::Docs),
    route("GET", "/openapi.json", Function::Web, Operation::OpenApi),
];

/// Why a request matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    NotFound,
    /// The path exists with other methods.
    MethodNotAllowed,
}

/// The route `function` serves for this request.
pub fn find(function: Function, method: &str, path: &str) -> Result<&'static Route, NoRoute> {
    let mut on_path = ROUTES
        .iter()
        .filter(|r| r.path == path && r.function == function)
        .peekable();
    if on_path.peek().is_none() {
        return Err(NoRoute::NotFound);
    }
    on_path
        .find(|r| r.method == method)
        .ok_or(NoRoute::MethodNotAllowed)
}

impl From<NoRoute> for crate::error::Error {
    fn from(no: NoRoute) -> Self {
        match no {
            NoRoute::NotFound => Self::RouteNotFound,
            NoRoute::MethodNotAllowed => Self::MethodNotAllowed,
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
            find(Function::Profile, "DELETE", "/v1/profile"),
            Err(NoRoute::MethodNotAllowed)
        );
        assert_eq!(
            find(Function::Profile, "POST", "/v1/auth/send-code"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(find(Function::Web, "GET", "/nope"), Err(NoRoute::NotFound));
    }
}
