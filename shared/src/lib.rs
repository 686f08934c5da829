//! Domain rules, DynamoDB access and the HTTP edge shared by the referral API's Lambda functions.
//! Dependencies point inward: `api` (HTTP handlers) -> `usecases` -> `domain`; only `state`
//! names the concrete adapters (`store`, the SMS sender).
pub mod api;
pub mod auth;
pub mod captcha;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod sdk;
pub mod secret;
pub mod sms;
pub mod state;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod threat;
pub mod usecases;

// The deployed builds link musl, whose `setenv` frees what it replaces (glibc's keeps every trace
// id the runtime stores, forever), but whose allocator costs CPU on every request: mimalloc
// takes its place there. Native builds (tests, `make dev`) keep the system allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
