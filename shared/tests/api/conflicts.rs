//! Writes that meet another request's transaction on one of their items. DynamoDB refuses a
//! single-item write with `TransactionConflictException` and cancels a transaction with a
//! `TransactionConflict` reason, writing nothing either way; DynamoDB Local applies writes one at
//! a time and never does, so an SDK interceptor plays that answer for chosen calls: the request
//! DynamoDB Local receives is emptied (it refuses it before touching any item) and its answer
//! becomes DynamoDB's. In a `BatchExecuteStatement`, DynamoDB answers the one statement whose item
//! is held with a `TransactionConflict` error: there the statement is pointed at a missing table
//! (DynamoDB Local refuses that statement alone) and its error becomes DynamoDB's.
use std::ops::Range;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_execute_statement::BatchExecuteStatementOutput;
use aws_sdk_dynamodb::types::{BatchStatementError, BatchStatementErrorCodeEnum};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use shared::state::dynamodb_config;
use shared::testing::test_config;

use crate::helpers::{
    TestApp, app_intercepted, app_with_client, batch_statements, operation_of, parsed,
    random_phone, saves_the_record, to_a_missing_table,
};

const CONFLICT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"Transaction is ongoing for the item"}"#;
const CANCELLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;

/// Holds an item of chosen calls of one DynamoDB operation (`PutItem`, `UpdateItem`,
/// `TransactWriteItems`).
#[derive(Debug, Clone)]
struct HeldItem {
    operation: &'static str,
    calls: Arc<Mutex<Calls>>,
}

#[derive(Debug, Default)]
struct Calls {
    made: usize,
    /// `made` when `hold` was called.
    base: usize,
    held: Range<usize>,
}

/// Whether this call's answer is to be DynamoDB's conflict.
#[derive(Debug)]
struct Held(bool);

impl Storable for Held {
    type Storer = StoreReplace<Self>;
}

impl HeldItem {
    fn new(operation: &'static str) -> Self {
        Self {
            operation,
            calls: Arc::default(),
        }
    }

    /// Holds the calls numbered `from_now` among the operation's next ones (0 is the next).
    fn hold(&self, from_now: Range<usize>) {
        let mut calls = self.calls.lock().unwrap();
        calls.base = calls.made;
        calls.held = calls.made + from_now.start..calls.made + from_now.end;
    }

    /// The operation's calls since `hold`, held or not.
    fn made(&self) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.made - calls.base
    }
}

impl Intercept for HeldItem {
    fn name(&self) -> &'static str {
        "held-item"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if operation_of(request) != self.operation {
            return Ok(());
        }
        let held = {
            let mut calls = self.calls.lock().unwrap();
            let held = calls.held.contains(&calls.made);
            calls.made += 1;
            held
        };
        if held {
            // No operation accepts an empty object: nothing is written.
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
        }
        cfg.interceptor_state().store_put(Held(held));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !matches!(cfg.load::<Held>(), Some(Held(true))) {
            return Ok(());
        }
        let response = context.response_mut();
        assert_eq!(
            response.status().as_u16(),
            400,
            "DynamoDB Local accepted the emptied request (DynamoDB's conflict is a 400 too)"
        );
        let answer = match self.operation {
            "TransactWriteItems" => CANCELLED,
            _ => CONFLICT,
        };
        *response.body_mut() = SdkBody::from(answer);
        response.headers_mut().remove("content-length");
        response.headers_mut().remove("x-amz-crc32");
        Ok(())
    }
}

/// Holds the phone's record in send-code's batched writes, in the first `held` of its calls:
/// the record's statement (the one that writes `code_hash`) is refused as DynamoDB refuses a
/// statement on an item a transaction holds; the counters' statements run as they are.
#[derive(Debug, Clone)]
struct HeldRecord {
    held: usize,
    made: Arc<Mutex<usize>>,
}

/// Which statement of this call plays the conflict.
#[derive(Debug)]
struct HeldStatement(usize);

impl Storable for HeldStatement {
    type Storer = StoreReplace<Self>;
}

impl Intercept for HeldRecord {
    fn name(&self) -> &'static str {
        "held-record"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((i, record)) = batch_statements(context)
            .enumerate()
            .find(|(_, s)| saves_the_record(s))
        else {
            return Ok(());
        };
        let mut made = self.made.lock().unwrap();
        if *made < self.held {
            to_a_missing_table(record);
            cfg.interceptor_state().store_put(HeldStatement(i));
        }
        *made += 1;
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(HeldStatement(i)) = cfg.load::<HeldStatement>() else {
            return Ok(());
        };
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        let output = output
            .downcast_mut::<BatchExecuteStatementOutput>()
            .unwrap();
        let answer = &mut output.responses.as_mut().unwrap()[*i];
        let refused = answer.error.as_ref().and_then(|e| e.code.clone());
        assert_eq!(
            refused,
            Some(BatchStatementErrorCodeEnum::ResourceNotFound),
            "DynamoDB Local took the held statement"
        );
        answer.error = Some(
            BatchStatementError::builder()
                .code(BatchStatementErrorCodeEnum::TransactionConflict)
                .message("Transaction is ongoing for the item")
                .build(),
        );
        Ok(())
    }
}

async fn held_app(operation: &'static str, overrides: &[(&str, &str)]) -> (TestApp, HeldItem) {
    let held = HeldItem::new(operation);
    (app_intercepted(overrides, held.clone()).await, held)
}

#[tokio::test]
async fn a_logout_that_meets_an_activation_in_flight_is_made_again_and_revokes() {
    let (app, held) = held_app("UpdateItem", &[]).await;
    let (_, token, _) = app.new_user().await;
    held.hold(0..3);
    let out = app
        .call("POST", "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, 204, "{out:#?}");
    // Three tries refused while the item was held, the fourth landed.
    assert_eq!(held.made(), 4);
    app.profile(&token)
        .await
        .assert_problem(401, "token_revoked");
}

#[tokio::test]
async fn a_code_whose_save_meets_a_verify_in_flight_is_saved_once_when_it_is_over() {
    // Held in the counters' call, then (read again) in two puts of its own: the third put lands.
    let record = HeldRecord {
        held: 1,
        made: Arc::default(),
    };
    let put = HeldItem::new("PutItem");
    let config = test_config(&[]);
    let client = aws_sdk_dynamodb::Client::from_conf(
        dynamodb_config(config.dynamodb_endpoint.as_deref())
            .interceptor(record.clone())
            .interceptor(put.clone())
            .build(),
    );
    let app = app_with_client(config, client).await;
    let phone = random_phone();
    put.hold(0..2);
    let resp = app.send_code(&phone).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!((*record.made.lock().unwrap(), put.made()), (1, 3));
    let otp = app.state.store.otp_state(&parsed(&phone)).await.unwrap();
    assert_eq!(otp.sends.len(), 1, "{otp:?}");
    // The code sent is the code stored.
    let code = resp.body["code"].as_str().unwrap();
    assert_eq!(app.verify(&phone, code).await.status, 201);
}

#[tokio::test]
async fn an_undelivered_code_is_withdrawn_even_when_its_withdrawal_meets_a_verify_in_flight() {
    // Nothing listens on port 9 of the loopback: SNS is unreachable.
    let down = [
        ("SMS_SENDER", "sns"),
        ("EXPOSE_CODES", "false"),
        ("SNS_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let (app, held) = held_app("PutItem", &down).await;
    let phone = random_phone();
    // The code's save lands (with the counters); the first two tries to put the earlier state
    // back are held.
    held.hold(0..2);
    app.send_code(&phone)
        .await
        .assert_problem(503, "sms_unavailable");
    let otp = app.state.store.otp_state(&parsed(&phone)).await.unwrap();
    assert!(otp.sends.is_empty(), "the code stayed: {otp:?}");
    assert_eq!(held.made(), 3);
}

#[tokio::test]
async fn a_first_login_whose_transaction_meets_another_is_made_again_and_creates_one_user() {
    let (app, held) = held_app("TransactWriteItems", &[]).await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    held.hold(0..2);
    let resp = app.verify(&phone, &code).await;
    assert_eq!(resp.status, 201, "{resp:#?}");
    assert_eq!(held.made(), 3);
    let owner = app.state.store.user_id_by_phone(&parsed(&phone)).await;
    assert_eq!(
        owner.unwrap().as_ref().map(|id| id.as_str()),
        resp.body["profile"]["id"].as_str()
    );
    // The code was used by the transaction that landed.
    app.verify(&phone, &code)
        .await
        .assert_problem(401, "invalid_code");
}

#[tokio::test]
async fn an_activation_whose_transaction_meets_another_is_made_again_and_counts_once() {
    let (app, held) = held_app("TransactWriteItems", &[]).await;
    let (_, token_a, a) = app.new_user().await;
    let (_, token_b, _) = app.new_user().await;
    held.hold(0..2);
    let resp = app
        .activate(&token_b, a["invite_code"].as_str().unwrap())
        .await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(held.made(), 3);
    assert_eq!(app.profile(&token_a).await.body["referrals_count"], 1);
}
