//! The API in process, against DynamoDB Local: every status of the contract, the races, and the
//! limits, through API Gateway events and the real handlers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod budget;
mod captcha;
mod concurrency;
mod conflicts;
mod counters;
mod deletion;
mod edge;
mod events;
mod limits;
mod logs;
mod metrics;
mod probes;
mod profile;
mod scale;
mod secrets;
mod send_code;
mod sms;
mod verify_code;
