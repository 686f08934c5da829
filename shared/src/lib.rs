//! Domain rules, DynamoDB access and the HTTP edge shared by the referral API's Lambda functions.
pub mod api;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod logging;
pub mod state;
pub mod store;
