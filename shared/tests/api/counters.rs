//! A send's first writes (its address's and range's counters and one shard of each budget level,
//! and the code's save when the read found room on all of them) go in one
//! `BatchExecuteStatement`, shaped by what the send's first read found. What that call cannot
//! write is written one by one, and the limits stay exact either way.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use shared::domain::{ClientAddress, CodeHash, HourWindow, Mark, OtpState, PhoneNumber};
use shared::store::{CodeSave, Counting, SaveAnswer, Seen, SendCount, SendCounters, WriteId};

use crate::helpers::{
    Calls, TestApp, app, app_intercepted, batch_statements, calls_with, logged_at_trace,
    operation_of, parsed, random_phone, to_a_missing_table,
};

/// Two sends an hour per address, and a range limit that never refuses here.
const TWO_AN_HOUR: &[(&str, &str)] = &[
    ("IP_MAX_SENDS_PER_HOUR", "2"),
    ("IP_RANGE_MAX_SENDS_PER_HOUR", "1000"),
];

/// How a test spoils send-code's batched counter writes.
#[derive(Debug, Clone, Copy)]
enum Spoil {
    /// Every statement names a table that does not exist: DynamoDB refuses each one.
    Statements,
    /// The call fails before it leaves, as a lost connection would.
    WholeCall,
}

/// Records every call's operation (through [`Calls`]) and spoils every `BatchExecuteStatement`.
#[derive(Debug, Clone)]
struct Spoiled {
    how: Spoil,
    calls: Calls,
}

impl Intercept for Spoiled {
    fn name(&self) -> &'static str {
        "spoiled-batches"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Spoil::Statements = self.how {
            batch_statements(context).for_each(to_a_missing_table);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.calls.read_before_transmit(context, rc, cfg)?;
        let batch = operation_of(context.request()) == "BatchExecuteStatement";
        match self.how {
            Spoil::WholeCall if batch => Err("the test's interceptor failed this call".into()),
            _ => Ok(()),
        }
    }
}

async fn calls_of(app: &TestApp, calls: &Calls, ip: &str) -> (u16, Vec<String>) {
    calls.0.lock().unwrap().clear();
    let sent = app.send_code_from(ip, &random_phone()).await;
    let made = calls.0.lock().unwrap().clone();
    (sent.status, made)
}

#[tokio::test]
async fn a_send_past_its_addresss_limit_is_refused_on_its_first_read_alone() {
    let calls = Calls::default();
    let app = app_intercepted(TWO_AN_HOUR, calls.clone()).await;
    app.start_own_hour();
    let (first, written) = calls_of(&app, &calls, "198.51.100.7").await;
    assert_eq!(first, 200);
    assert_eq!(written, ["BatchGetItem", "BatchExecuteStatement"]);
    assert_eq!(calls_of(&app, &calls, "198.51.100.7").await.0, 200);
    calls.0.lock().unwrap().clear();
    app.send_code_from("198.51.100.7", &random_phone())
        .await
        .assert_problem(429, "client_send_limit");
    // The read found the address's counter at its limit: nothing written, nothing given back.
    assert_eq!(*calls.0.lock().unwrap(), ["BatchGetItem"]);
}

#[tokio::test]
async fn counters_the_batch_could_not_write_are_counted_one_by_one_and_stay_exact() {
    for how in [Spoil::Statements, Spoil::WholeCall] {
        let spoiled = Spoiled {
            how,
            calls: Calls::default(),
        };
        let app = app_intercepted(TWO_AN_HOUR, spoiled.clone()).await;
        app.start_own_hour();
        let ip = "198.51.100.9";
        let (status, made) = calls_of(&app, &spoiled.calls, ip).await;
        assert_eq!(status, 200, "{how:?}");
        // The read, the batch (which wrote nothing), then each counter by its own update (the
        // address's, the range's and a shard of each budget level), and the code by a put.
        assert_eq!(
            made,
            [
                "BatchGetItem",
                "BatchExecuteStatement",
                "UpdateItem",
                "UpdateItem",
                "UpdateItem",
                "UpdateItem",
                "PutItem"
            ],
            "{how:?}"
        );
        assert_eq!(calls_of(&app, &spoiled.calls, ip).await.0, 200, "{how:?}");
        // Counted exactly once each time: the third send is past the address's limit.
        let (third, made) = calls_of(&app, &spoiled.calls, ip).await;
        assert_eq!(
            (third, made.as_slice()),
            (429, &["BatchGetItem".to_owned()][..]),
            "{how:?}"
        );
    }
}

#[test]
fn a_batched_write_that_fails_other_than_by_a_race_is_logged_and_a_lost_race_is_not() {
    let ((), logs) = logged_at_trace(async {
        let spoiled = Spoiled {
            how: Spoil::Statements,
            calls: Calls::default(),
        };
        let app = app_intercepted(&[], spoiled).await;
        app.start_own_hour();
        assert_eq!(
            app.send_code_from("198.51.100.11", &random_phone())
                .await
                .status,
            200
        );
    });
    // Each of the five statements (four counters, the code's save) named a missing table.
    let failed = logs
        .lines()
        .filter(|l| l.contains("a batched send write failed") && l.contains("ResourceNotFound"))
        .count();
    assert_eq!(failed, 5, "{logs}");

    let calls = Calls::default();
    let ((), logs) = logged_at_trace(async {
        let app = app_intercepted(TWO_AN_HOUR, calls.clone()).await;
        app.start_own_hour();
        // Parallel first sends from one address: all but one lose the race to create its
        // counter, and are counted on their own, quietly.
        let phones: Vec<String> = (0..4).map(|_| random_phone()).collect();
        let sends = phones
            .iter()
            .map(|phone| app.send_code_from("198.51.100.12", phone));
        let statuses: Vec<u16> = futures::future::join_all(sends)
            .await
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 200).count(),
            2,
            "{statuses:?}"
        );
    });
    let made = calls.0.lock().unwrap().clone();
    assert!(
        made.iter().any(|c| c == "UpdateItem"),
        "no race was lost: {made:?}"
    );
    assert!(!logs.contains("a batched send write failed"), "{logs}");
}

#[tokio::test]
async fn a_code_saved_in_the_counters_call_is_the_item_a_put_writes_and_knows_its_own_write() {
    let app = app().await;
    let store = &app.state.store;
    let caller = app
        .state
        .hasher
        .caller(&ClientAddress::from_source_ip(Some("198.51.100.40")));
    let window = HourWindow::at(app.state.clock.now_s());
    let counters = &SendCounters::new(&caller, window, (100, 100), Vec::new());
    let mark = Mark {
        at: app.state.clock.now_s(),
        client: caller.client.clone(),
    };
    let full = OtpState {
        code_hash: Some(CodeHash([7; 32])),
        expires_at: app.state.clock.now_s() + 300,
        attempts: 2,
        sends: vec![mark.clone()],
        failures: vec![mark],
        revision: 0,
    };
    let count_and_save = |phone: PhoneNumber, next: OtpState, write: WriteId| async move {
        let save = CodeSave {
            phone: &phone,
            next: &next,
            write_id: &write,
        };
        let Counting { count, save } = store
            .count_send(counters, &Seen::default(), Some(&save))
            .await;
        assert!(matches!(count, Ok(SendCount::Counted(_))), "{count:?}");
        save
    };
    // A phone never seen: the save is an insert, and it reads back as saved.
    let phone = parsed(&random_phone());
    let write = WriteId::random();
    let saved = count_and_save(phone.clone(), full.clone(), write.clone()).await;
    assert_eq!(saved, Some(SaveAnswer::Saved));
    let stored = store.otp_state(&phone).await.unwrap();
    assert_eq!(
        stored,
        OtpState {
            revision: 1,
            ..full.clone()
        }
    );
    // The same write again, as after a lost reply, is recognised as saved; another is not.
    assert!(store.save_otp_state(&phone, &full, &write).await.unwrap());
    assert!(
        !store
            .save_otp_state(&phone, &full, &WriteId::random())
            .await
            .unwrap()
    );
    // Over the stored revision: the attributes the new state lacks are removed, as a put would.
    let next = OtpState {
        code_hash: None,
        failures: Vec::new(),
        ..stored.clone()
    };
    let saved = count_and_save(phone.clone(), next.clone(), WriteId::random()).await;
    assert_eq!(saved, Some(SaveAnswer::Saved));
    assert_eq!(
        store.otp_state(&phone).await.unwrap(),
        OtpState {
            revision: 2,
            ..next.clone()
        }
    );
    // Over a revision someone else saved over: nothing saved.
    let saved = count_and_save(phone.clone(), next, WriteId::random()).await;
    assert_eq!(saved, Some(SaveAnswer::Moved));
    assert_eq!(store.otp_state(&phone).await.unwrap().revision, 2);
}

#[tokio::test]
async fn a_send_refused_by_a_spent_budget_saves_no_code() {
    let calls = Calls::default();
    let app = app_intercepted(
        &[
            ("SMS_BUDGET_PER_HOUR", "1"),
            ("SMS_BUDGET_SHARDS", "1"),
            ("SMS_BUDGET_RETURNING_PERCENT", "0"),
        ],
        calls.clone(),
    )
    .await;
    app.start_own_hour();
    assert_eq!(calls_of(&app, &calls, "198.51.100.41").await.0, 200);
    calls.0.lock().unwrap().clear();
    let phone = random_phone();
    app.send_code_from("198.51.100.42", &phone)
        .await
        .assert_problem(503, "sms_budget_exhausted");
    // The read found the budget's shard full: the save stayed out of the counters' call, and
    // the phone's record was never written.
    let made = calls.0.lock().unwrap().clone();
    assert!(!made.iter().any(|c| c == "PutItem"), "{made:?}");
    assert_eq!(
        app.state.store.otp_state(&parsed(&phone)).await.unwrap(),
        OtpState::default()
    );
}

/// Once switched on: send-code's first read does not see the address's counter (as if a
/// parallel send filled it just after), and every write of the range's counter fails.
#[derive(Debug, Clone, Default)]
struct RangeDown(Arc<AtomicBool>);

impl Intercept for RangeDown {
    fn name(&self) -> &'static str {
        "range-down"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.load(Ordering::SeqCst) {
            batch_statements(context)
                .filter(|s| writes_a_range(s.parameters()))
                .for_each(to_a_missing_table);
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let range_update = calls_with(context.request(), "UpdateItem", "limit#range-sends#");
        match self.0.load(Ordering::SeqCst) && range_update {
            true => Err("the test's interceptor failed this call".into()),
            false => Ok(()),
        }
    }

    fn modify_before_attempt_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.0.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        if let Some(read) = output.downcast_mut::<BatchGetItemOutput>() {
            for items in read.responses.iter_mut().flat_map(|r| r.values_mut()) {
                items.retain(|item| {
                    let key = item.get("phone").and_then(|v| v.as_s().ok());
                    !key.is_some_and(|k| k.starts_with("limit#sends#"))
                });
            }
        }
        Ok(())
    }
}

fn writes_a_range(parameters: &[AttributeValue]) -> bool {
    parameters
        .iter()
        .any(|p| p.as_s().is_ok_and(|s| s.starts_with("limit#range-sends#")))
}

#[tokio::test]
async fn an_address_refused_for_certain_is_answered_429_even_when_its_ranges_write_failed() {
    let down = RangeDown::default();
    let app = app_intercepted(&[("IP_MAX_SENDS_PER_HOUR", "1")], down.clone()).await;
    app.start_own_hour();
    let ip = "198.51.100.60";
    assert_eq!(app.send_code_from(ip, &random_phone()).await.status, 200);
    // The address's counter is full; the read misses it, so the send writes: the address is
    // refused there, and the range cannot be counted at all.
    down.0.store(true, Ordering::SeqCst);
    let phone = random_phone();
    app.send_code_from(ip, &phone)
        .await
        .assert_problem(429, "client_send_limit");
    // The code saved in the same call was taken back.
    let stored = app.state.store.otp_state(&parsed(&phone)).await.unwrap();
    assert!(stored.code_hash.is_none(), "{stored:?}");
}
