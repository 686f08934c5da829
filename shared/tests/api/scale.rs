//! The load shape: no item is written by every request and no item grows with traffic. An SDK
//! interceptor records every key a mixed workload writes; the sharded SMS budget and the sharded
//! referral count stay exact under parallel requests; the rules that used to hold the referrer's
//! item in a transaction (once per user, never mutual) still hold without it.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeSerializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_execute_statement::BatchExecuteStatementInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_types::body::SdkBody;
use futures::future::join_all;
use futures::{StreamExt, stream};
use serde_json::Value;
use shared::config::TableNames;
use shared::domain::{DayWindow, HourWindow, User};
use shared::state::dynamodb_client;
use shared::store::item_size;
use shared::testing::test_config;
use tracing_subscriber::prelude::*;

use crate::helpers::{
    TestApp, app_intercepted, app_on, batch_statements, operation_of, parsed,
    patient_app_intercepted, random_phone, saves_the_record,
};

type Item = HashMap<String, AttributeValue>;

/// Writes a key may see in the audit's workload before it counts as hot, unless it is a shard:
/// a phone's record takes a send, a wrong code and the right one; a user its creation and its
/// activation.
const HANDFUL: usize = 5;

/// DynamoDB bills writes by the KB and reads by 4 KB; no item here should come near either.
const LARGEST_ITEM: usize = 4_096;

/// Every key written, by table and key, and how often; what a `PutItem` wrote, whole.
#[derive(Debug, Clone)]
struct WrittenKeys {
    /// The key attribute of each table, by table name.
    keys: Arc<HashMap<String, &'static str>>,
    seen: Arc<Mutex<BTreeMap<(String, String), Written>>>,
}

#[derive(Debug, Default, Clone)]
struct Written {
    writes: usize,
    largest_put: usize,
}

impl WrittenKeys {
    fn new(tables: &TableNames) -> Self {
        let keys = HashMap::from([
            (tables.users.clone(), "id"),
            (tables.uniques.clone(), "key"),
            (tables.otp.clone(), "phone"),
        ]);
        Self {
            keys: Arc::new(keys),
            seen: Arc::default(),
        }
    }

    fn record(&self, table: &str, key: &Item, put: Option<&Item>) {
        let Some(name) = self.keys.get(table) else {
            return;
        };
        let Some(value) = key.get(*name).and_then(|v| v.as_s().ok()) else {
            return;
        };
        let mut seen = self.seen.lock().unwrap();
        let written = seen.entry((table.to_owned(), value.clone())).or_default();
        written.writes += 1;
        written.largest_put = written.largest_put.max(put.map_or(0, item_size));
    }

    fn put(&self, table: &str, item: &Item) {
        self.record(table, item, Some(item));
    }

    fn taken(&self) -> BTreeMap<(String, String), Written> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Intercept for WrittenKeys {
    fn name(&self) -> &'static str {
        "written-keys"
    }

    /// Once per call, before the SDK's own retries: a refused conditional write counts too, as it
    /// costs a write unit and lands on the item's partition like any other.
    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            if let (Some(table), Some(item)) = (put.table_name(), put.item()) {
                self.put(table, item);
            }
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            if let (Some(table), Some(key)) = (update.table_name(), update.key()) {
                self.record(table, key, None);
            }
        } else if let Some(batch) = input.downcast_ref::<BatchExecuteStatementInput>() {
            // Each statement writes one item, named by its table and its key parameter.
            for statement in batch.statements() {
                let (table, key) = written_by(statement.statement(), statement.parameters());
                self.record(&table, &HashMap::from([key]), None);
            }
        } else if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            // A condition check writes nothing; puts, updates and deletes do.
            for item in transaction.transact_items() {
                if let Some(put) = item.put() {
                    self.put(put.table_name(), put.item());
                } else if let Some(update) = item.update() {
                    self.record(update.table_name(), update.key(), None);
                } else if let Some(delete) = item.delete() {
                    self.record(delete.table_name(), delete.key(), None);
                }
            }
        }
        Ok(())
    }
}

/// The table and the key (as an item of one attribute) a PartiQL `INSERT` or `UPDATE` of the
/// otp table writes: the table is the first quoted name, the key the parameter in the key's
/// place (`"phone" = ?` or `'phone': ?`). Panics on a statement of another shape.
fn written_by(
    statement: &str,
    parameters: &[AttributeValue],
) -> (String, (String, AttributeValue)) {
    let table = statement.split('"').nth(1).expect("a quoted table name");
    let at = ["\"phone\" = ?", "'phone': ?"]
        .iter()
        .find_map(|place| statement.find(place).map(|i| i + place.len()))
        .unwrap_or_else(|| panic!("no key in {statement}"));
    let index = statement[..at].matches('?').count() - 1;
    (
        table.to_owned(),
        ("phone".to_owned(), parameters[index].clone()),
    )
}

/// Those of `keys` (table, key) that exist, as they are now, with their table; read through a
/// client of its own.
async fn read_back(
    keys: &[(String, String)],
    names: &HashMap<String, &'static str>,
) -> Vec<(String, Item)> {
    let client = dynamodb_client(std::env::var("DYNAMODB_ENDPOINT").ok().as_deref());
    let mut items = Vec::new();
    for chunk in keys.chunks(100) {
        let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
        for (table, key) in chunk {
            let name = names[table];
            let entry = request.remove(table).map(|k| k.keys).unwrap_or_default();
            let keys = entry.into_iter().chain([HashMap::from([(
                name.to_owned(),
                AttributeValue::S(key.clone()),
            )])]);
            let batch = KeysAndAttributes::builder()
                .set_keys(Some(keys.collect()))
                .consistent_read(true)
                .build()
                .unwrap();
            request.insert(table.clone(), batch);
        }
        let mut pending = Some(request);
        while let Some(request) = pending.take().filter(|r| !r.is_empty()) {
            let out = client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .unwrap();
            for (table, found) in out.responses.unwrap_or_default() {
                items.extend(found.into_iter().map(|item| (table.clone(), item)));
            }
            pending = out.unprocessed_keys;
        }
    }
    items
}

/// A distinct address for each of up to 65,000 clients (198.18.0.0/15, kept for benchmarks),
/// spread over its 512 /24s as real callers spread over ranges: client `i` and client `i + 512`
/// are neighbours, so each range's counters see a few clients, as each address's see one.
fn address(i: usize) -> String {
    format!("198.{}.{}.{}", 18 + (i % 512) / 256, i % 256, 1 + i / 512)
}

/// Sends `phone` a code from `ip`; then, when `log_in`, logs it in (after one wrong guess when
/// `wrong_first`) and returns the access token.
async fn send_and_log_in(
    app: &TestApp,
    ip: &str,
    phone: &str,
    log_in: bool,
    wrong_first: bool,
) -> Option<String> {
    let sent = app.send_code_from(ip, phone).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    if !log_in {
        return None;
    }
    let code = sent.body["code"].as_str().unwrap().to_owned();
    if wrong_first {
        let wrong: String = code
            .bytes()
            .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
            .collect();
        app.verify_from(ip, phone, &wrong)
            .await
            .assert_problem(401, "invalid_code");
    }
    let verified = app.verify_from(ip, phone, &code).await;
    assert_eq!(verified.status, 201, "{verified:#?}");
    Some(verified.body["access_token"].as_str().unwrap().to_owned())
}

/// Every phone of the referrals list, paged through 100 at a time.
async fn all_referrals(app: &TestApp, token: &str) -> Vec<String> {
    let mut phones = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/profile/referrals?limit=100&cursor={c}"),
            None => "/v1/profile/referrals?limit=100".to_owned(),
        };
        let page = app.call("GET", &path, Some(token), None).await;
        assert_eq!(page.status, 200, "{page:#?}");
        phones.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["phone"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return phones,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_but_a_shard_is_written_more_than_a_handful_of_times_and_no_item_passes_4_kb() {
    let config = test_config(&[]);
    let recorder = WrittenKeys::new(&config.tables);
    let app = patient_app_intercepted(&[], recorder.clone()).await;
    app.start_own_hour();
    let (_, owner_token, owner) = app.new_user().await;
    let code = owner["invite_code"].as_str().unwrap().to_owned();
    recorder.taken();

    // 2,000 sends, each from an address and to a phone of its own; every other one logs in
    // (one in ten of those after a wrong code), and 300 of those then activate one code, 40 of
    // whom then delete their accounts (taking 1 from a shard of the code's count each). 16
    // requests at a time, all mixed. Then 320 of the users who logged in ask for a code again,
    // each from an address of its own: returning phones, on their share of the budget.
    let (app, code) = (&app, &code);
    let logged_in = Mutex::new(Vec::new());
    let activated = stream::iter(0..2_000)
        .map(|i| {
            let logged_in = &logged_in;
            async move {
                let (ip, phone, log_in) = (address(i), random_phone(), i % 2 == 0);
                let token = send_and_log_in(app, &ip, &phone, log_in, i % 20 == 0).await;
                // Those who delete their accounts are new numbers again: not among the returning.
                if log_in && i >= 80 {
                    logged_in.lock().unwrap().push(phone);
                }
                let activates = log_in && i < 600;
                if let (Some(token), true) = (token, activates) {
                    let resp = app.activate(&token, code).await;
                    assert_eq!(resp.status, 200, "{resp:#?}");
                    if i < 80 {
                        let deleted = app.call("DELETE", "/v1/profile", Some(&token), None).await;
                        assert_eq!(deleted.status, 204, "{deleted:#?}");
                    }
                }
                activates
            }
        })
        .buffer_unordered(16)
        .filter(|activated| std::future::ready(*activated))
        .count()
        .await;
    assert_eq!(activated, 300);
    let returning: Vec<String> = logged_in
        .into_inner()
        .unwrap()
        .into_iter()
        .take(320)
        .collect();
    stream::iter(returning.iter().enumerate())
        .for_each_concurrent(16, |(j, phone)| async move {
            let sent = app.send_code_from(&address(2_000 + j), phone).await;
            assert_eq!(sent.status, 200, "{sent:#?}");
        })
        .await;

    let written = recorder.taken();
    let now = app.state.clock.now_s();
    let (hour, day) = (HourWindow::at(now).start, DayWindow::at(now).start);
    let owner_id = owner["id"].as_str().unwrap();
    let sharded = [
        format!("limit#budget-new#{hour}#"),
        format!("limit#day-new#{day}#"),
        format!("limit#budget-returning#{hour}#"),
        format!("limit#day-returning#{day}#"),
        format!("referrals#{owner_id}#"),
    ];
    let shards = |prefix: &str| -> Vec<usize> {
        written
            .iter()
            .filter(|((_, key), _)| key.starts_with(prefix))
            .map(|(_, w)| w.writes)
            .collect()
    };
    let hot: Vec<_> = written
        .iter()
        .filter(|((_, key), w)| {
            !sharded.iter().any(|p| key.starts_with(p.as_str())) && w.writes > HANDFUL
        })
        .collect();
    assert!(
        hot.is_empty(),
        "keys written more than {HANDFUL} times: {hot:#?}"
    );
    assert!(
        !written.keys().any(|(_, key)| key == owner_id),
        "the referrer's user item was written by activations of their code"
    );
    // Every kind of counter was written, so the check above audited each: an address's and a
    // range's sends and wrong codes.
    for prefix in [
        "limit#sends#",
        "limit#failures#",
        "limit#range-sends#",
        "limit#range-failures#",
        // A deletion's note.
        "deleted#",
    ] {
        let keys = written
            .keys()
            .filter(|(_, k)| k.starts_with(prefix))
            .count();
        assert!(keys > 0, "no {prefix} key was written");
    }
    // 2,320 addresses over 512 ranges: each range's counter took its clients' sends, no more.
    let range_sends: usize = written
        .iter()
        .filter(|((_, k), _)| k.starts_with("limit#range-sends#"))
        .map(|(_, w)| w.writes)
        .sum();
    assert_eq!(range_sends, 2_320);
    // Every send counted on one shard of each level of its share of the budget (the new
    // numbers' or the returning phones', the hour's and the day's), every activation (and every
    // deletion of an activated account) on one count shard, and each shard took about its share: at most twice it, and a little slack for
    // small numbers.
    let totals = [2_000, 2_000, 320, 320, 340];
    let counts = [32, 32, 32, 32, 16];
    for ((prefix, total), n_shards) in sharded.iter().zip(totals).zip(counts) {
        let (what, taken) = (prefix.as_str(), shards(prefix));
        // A send writes a shard once, but one whose INSERT lost the race to create the shard (a
        // parallel send created it between the read and the write) writes it again, by update:
        // a few times per shard and hour, only while the shards are being created.
        let writes = taken.iter().sum::<usize>();
        assert!(
            (total..=total + n_shards).contains(&writes),
            "{what}: {writes} writes for {total} sends: {taken:?}"
        );
        // Shards are drawn at random: 320 sends over 32 shards leave one empty about once in
        // 300 runs (seen once), so the spread is held to three quarters of them, and never more.
        assert!(
            taken.len() <= n_shards && taken.len() * 4 >= n_shards * 3,
            "{what}: {} of {n_shards} shards written: {taken:?}",
            taken.len()
        );
        let share = total / n_shards;
        assert!(
            taken.iter().all(|&n| n <= 2 * share + 10),
            "{what}: a shard took more than twice its share of {share}: {taken:?}"
        );
    }

    let keys: Vec<(String, String)> = written.keys().cloned().collect();
    let mut sizes: Vec<(usize, String)> = read_back(&keys, &recorder.keys)
        .await
        .iter()
        .map(|(table, item)| {
            let key = item[recorder.keys[table]].as_s().unwrap().clone();
            (item_size(item), key)
        })
        .chain(written.iter().map(|((_, k), w)| (w.largest_put, k.clone())))
        .collect();
    sizes.sort();

    let largest = sizes.last().unwrap();
    assert!(
        largest.0 <= LARGEST_ITEM,
        "{} is {} bytes",
        largest.1,
        largest.0
    );

    let profile = app.profile(&owner_token).await;
    assert_eq!(profile.body["referrals_count"], 260, "{profile:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sends_against_a_small_budget_over_many_shards_pass_exactly_the_budget() {
    let mut config = test_config(&[
        ("SMS_BUDGET_PER_HOUR", "40"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
        ("SMS_BUDGET_SHARDS", "16"),
    ]);
    // Every send may try every shard, so the budget is spent to the last code.
    config.limits.sms_budget_tries = 16;
    let app = app_on(config).await;
    app.start_own_hour();
    let sent = parallel_sends(&app, 120).await;
    assert_eq!(sent, 40);
    assert_eq!(shard_counts(&app).await.iter().sum::<u32>(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_four_tries_a_send_parallel_sends_never_pass_the_budget() {
    let app = crate::helpers::app_with(&[
        ("SMS_BUDGET_PER_HOUR", "40"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
        ("SMS_BUDGET_SHARDS", "16"),
    ])
    .await;
    assert_eq!(app.state.config.limits.sms_budget_tries, 4);
    app.start_own_hour();
    let sent = parallel_sends(&app, 120).await;
    assert!(sent <= 40, "{sent} sent");
    // Refused sends left nothing counted; no shard passed its cap of 2 or 3.
    let counts = shard_counts(&app).await;
    assert_eq!(counts.iter().sum::<u32>(), sent as u32, "{counts:?}");
    assert!(counts.iter().all(|&c| c <= 3), "{counts:?}");
}

/// Sends `n` codes at once, each from an address and to a phone of its own; how many were sent.
/// Every other answer is the budget's 503.
async fn parallel_sends(app: &TestApp, n: usize) -> usize {
    let answers = join_all(
        (0..n).map(|i| async move { app.send_code_from(&address(i), &random_phone()).await }),
    )
    .await;
    for refused in answers.iter().filter(|r| r.status != 200) {
        refused.assert_problem(503, "sms_budget_exhausted");
    }
    answers.iter().filter(|r| r.status == 200).count()
}

/// What each shard of the app's hourly SMS budget for new numbers holds now.
async fn shard_counts(app: &TestApp) -> Vec<u32> {
    let window = HourWindow::at(app.state.clock.now_s());
    let shards = app.state.config.limits.sms_budget_shards;
    let otp = &app.state.config.tables.otp;
    let keys: Vec<(String, String)> = (0..shards)
        .map(|i| {
            (
                otp.clone(),
                format!("limit#budget-new#{}#{i}", window.start),
            )
        })
        .collect();
    let names = HashMap::from([(otp.clone(), "phone")]);
    read_back(&keys, &names)
        .await
        .iter()
        .map(|(_, item)| item["count"].as_n().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_parallel_activations_of_one_code_all_succeed_and_all_count() {
    let app = app_on(test_config(&[])).await;
    let (_, owner_token, owner) = app.new_user().await;
    let code = owner["invite_code"].as_str().unwrap();
    let now = app.state.clock.now_ms();
    let users: Vec<User> = (0..300)
        .map(|_| User::new(parsed(&random_phone()), now))
        .collect();
    stream::iter(&users)
        .for_each_concurrent(32, |u| async {
            app.state.store.create_user(u).await.unwrap();
        })
        .await;
    let tokens: Vec<String> = users
        .iter()
        .map(|u| app.state.tokens.issue(&u.id, 0, app.state.clock.now_s()))
        .collect();
    let answers = join_all(tokens.iter().map(|t| app.activate(t, code))).await;
    let failed: Vec<_> = answers.iter().filter(|r| r.status != 200).collect();
    assert!(failed.is_empty(), "{failed:#?}");

    let profile = app.profile(&owner_token).await;
    assert_eq!(profile.body["referrals_count"], 300, "{profile:#?}");
    let listed: HashSet<String> = all_referrals(&app, &owner_token)
        .await
        .into_iter()
        .collect();
    let activated: HashSet<String> = users.iter().map(|u| u.phone.as_str().to_owned()).collect();
    assert_eq!(listed, activated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_pairs_activating_each_others_codes_at_once_leave_one_winner_per_pair() {
    let app = app_on(test_config(&[])).await;
    let mut pairs = Vec::new();
    for _ in 0..20 {
        pairs.push((app.new_user().await, app.new_user().await));
    }
    let code = |profile: &Value| profile["invite_code"].as_str().unwrap().to_owned();
    let answers = join_all(
        pairs
            .iter()
            .map(|((_, token_a, a), (_, token_b, b))| async {
                let (code_a, code_b) = (code(a), code(b));
                tokio::join!(
                    app.activate(token_a, &code_b),
                    app.activate(token_b, &code_a)
                )
            }),
    )
    .await;
    for (ra, rb) in &answers {
        let mut outcome = [
            (ra.status, ra.code().to_owned()),
            (rb.status, rb.code().to_owned()),
        ];
        outcome.sort();
        assert_eq!(
            outcome,
            [(200, String::new()), (422, "mutual_referral".to_owned())],
            "{ra:#?} {rb:#?}"
        );
    }
    // And each winner's referrer counts exactly one.
    for (((_, token_a, _), (_, token_b, _)), (ra, _)) in pairs.iter().zip(&answers) {
        let referrer = if ra.status == 200 { token_b } else { token_a };
        assert_eq!(app.profile(referrer).await.body["referrals_count"], 1);
    }
}

#[tokio::test]
async fn an_activation_from_before_pair_claims_still_counts_and_refuses_the_mutual_one_once_backfilled()
 {
    let app = app_on(test_config(&[])).await;
    let (_, token_a, a) = app.new_user().await;
    let (_, token_b, b) = app.new_user().await;
    // B activated A's code the way activations were written before: on both user items, with
    // A's count on A's own item and no pair claim.
    let client = dynamodb_client(std::env::var("DYNAMODB_ENDPOINT").ok().as_deref());
    let users = &app.state.config.tables.users;
    let now = app.state.clock.now_ms();
    client
        .update_item()
        .table_name(users)
        .key("id", AttributeValue::S(b["id"].as_str().unwrap().into()))
        .update_expression(
            "SET activated_invite_code = :code, referrer_id = :referrer, activated_at = :at",
        )
        .expression_attribute_values(
            ":code",
            AttributeValue::S(a["invite_code"].as_str().unwrap().into()),
        )
        .expression_attribute_values(
            ":referrer",
            AttributeValue::S(a["id"].as_str().unwrap().into()),
        )
        .expression_attribute_values(":at", AttributeValue::N(now.to_string()))
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(users)
        .key("id", AttributeValue::S(a["id"].as_str().unwrap().into()))
        .update_expression("ADD referrals_count :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();

    let (seen, _) = app.state.store.backfill_pair_claims().await.unwrap();
    assert!(seen >= 1);
    // Run again, it finds every claim in place.
    let (_, again) = app.state.store.backfill_pair_claims().await.unwrap();
    assert_eq!(again, 0);
    app.activate(&token_a, b["invite_code"].as_str().unwrap())
        .await
        .assert_problem(422, "mutual_referral");

    // The count on A's item and the count in A's shards add up.
    let (_, token_c, _) = app.new_user().await;
    let resp = app
        .activate(&token_c, a["invite_code"].as_str().unwrap())
        .await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(app.profile(&token_a).await.body["referrals_count"], 2);
    assert_eq!(
        app.profile(&token_b).await.body["activated_invite_code"],
        a["invite_code"]
    );
}

/// Answers `PutItem` calls as DynamoDB answers an item over 400 KB, after emptying the request
/// so DynamoDB Local writes nothing; and pads the phone's record a batch inserts past 400 KB,
/// for DynamoDB Local to refuse.
#[derive(Debug, Clone)]
struct Oversized;

const ITEM_TOO_LARGE: &str = r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"Item size has exceeded the maximum allowed size"}"#;

impl Intercept for Oversized {
    fn name(&self) -> &'static str {
        "oversized"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // A phone never seen: its record is an `INSERT`, with the key first.
        for statement in batch_statements(context).filter(|s| saves_the_record(s)) {
            statement.statement = statement
                .statement
                .replace("'phone': ?", "'phone': ?, 'pad': ?");
            let pad = AttributeValue::S("x".repeat(401 * 1024));
            statement.parameters.get_or_insert_default().insert(1, pad);
        }
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if operation_of(request) == "PutItem" {
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().as_u16() == 400 {
            *response.body_mut() = SdkBody::from(ITEM_TOO_LARGE);
            response.headers_mut().remove("content-length");
            response.headers_mut().remove("x-amz-crc32");
        }
        Ok(())
    }
}

#[test]
fn an_item_dynamodb_finds_too_large_is_logged_as_such_and_answered_as_internal() {
    let captured = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = captured.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone())),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let app = app_intercepted(&[], Oversized).await;
            app.send_code(&random_phone())
                .await
                .assert_problem(500, "internal_error");
        })
    });
    let logs = String::from_utf8(captured.lock().unwrap().clone()).unwrap();
    // The phone's record refused in the batch, then by its own put.
    let logged = |what: &str| logs.lines().filter(|l| l.contains(what)).count();
    assert_eq!(logged("an item reached DynamoDB's size limit"), 2, "{logs}");
    assert_eq!(logged("a batched send write failed: an item"), 1, "{logs}");
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SHARD_HELD: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, TransactionConflict]","CancellationReasons":[{"Code":"None"},{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;

/// Answers the next `held` transactions as DynamoDB does when another transaction holds their
/// third item (an activation's count shard) and nothing else, after emptying the request so
/// DynamoDB Local writes nothing; counts the transactions made.
#[derive(Debug, Clone, Default)]
struct ShardHeld {
    held: Arc<Mutex<usize>>,
    made: Arc<Mutex<usize>>,
}

#[derive(Debug)]
struct Playing;

impl aws_smithy_types::config_bag::Storable for Playing {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for ShardHeld {
    fn name(&self) -> &'static str {
        "shard-held"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        if operation_of(request) != "TransactWriteItems" {
            return Ok(());
        }
        *self.made.lock().unwrap() += 1;
        let mut held = self.held.lock().unwrap();
        if *held > 0 {
            *held -= 1;
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
            cfg.interceptor_state().store_put(Playing);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Playing>().is_some() {
            let response = context.response_mut();
            assert_eq!(response.status().as_u16(), 400);
            *response.body_mut() = SdkBody::from(SHARD_HELD);
            response.headers_mut().remove("content-length");
            response.headers_mut().remove("x-amz-crc32");
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_activation_whose_count_shard_is_held_by_another_draws_another_and_counts_once() {
    let held = ShardHeld::default();
    let app = app_intercepted(&[], held.clone()).await;
    let (_, token_a, a) = app.new_user().await;
    let (_, token_b, _) = app.new_user().await;
    *held.made.lock().unwrap() = 0;
    // More than the use case's race retries (6): only drawing again at once gets through.
    *held.held.lock().unwrap() = 8;
    let resp = app
        .activate(&token_b, a["invite_code"].as_str().unwrap())
        .await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    // Eight draws met a held shard, the ninth landed.
    assert_eq!(*held.made.lock().unwrap(), 9);
    assert_eq!(app.profile(&token_a).await.body["referrals_count"], 1);
}
