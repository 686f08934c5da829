//! DynamoDB failures, sorted into "try again later" and "broken", and the reasons a
//! transaction was cancelled.
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::CancellationReason;

use crate::sdk::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, network failures, DynamoDB's own 5xx: worth retrying later.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// DynamoDB refused a write because the item would pass its 400 KB limit. Every item's size
    /// is bounded by design (docs/data-model.md), so this is a bug, named apart so the log and an
    /// alarm on it do not drown among other failures.
    #[error("an item reached DynamoDB's size limit (a bug: every item's size is bounded)")]
    ItemTooLarge(#[source] BoxError),
    /// Anything else (a missing table, a malformed item): a bug or a misconfiguration.
    #[error("unexpected database error")]
    Unexpected(#[source] BoxError),
}

impl StoreError {
    /// Keeps the SDK error as the source, so the log shows its whole chain.
    pub(super) fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let retryable = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => err.code().is_some_and(is_retryable_code),
            _ => false,
        };
        if retryable {
            Self::Unavailable(Box::new(err))
        } else if err.code() == Some("ValidationException") && is_item_size(err.message()) {
            Self::ItemTooLarge(Box::new(err))
        } else {
            Self::Unexpected(Box::new(err))
        }
    }

    pub(super) fn mapping(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(err.into())
    }
}

/// DynamoDB error codes that mean "overloaded or failing, try later" rather than "your request is
/// wrong": they become 503 with Retry-After.
fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "TransactionConflictException"
            | "TransactionInProgressException"
    )
}

/// Whether DynamoDB's message for a refused request is about an item's size ("Item size has
/// exceeded the maximum allowed size", "Item size to update has exceeded ...").
pub(super) fn is_item_size(message: Option<&str>) -> bool {
    message.is_some_and(|m| m.to_ascii_lowercase().contains("item size"))
}

/// What a failed transaction amounts to.
#[derive(Debug)]
pub(super) enum Cancelled {
    /// A condition failed; the reasons (one per item, in order) carry the items as they stood
    /// where the transaction asked for them.
    Condition(Vec<CancellationReason>),
    /// Another transaction held one of the items: retry.
    Conflict,
    /// Not cancelled by a condition or a conflict: throttling, an outage, a bad request.
    Failed(StoreError),
}

impl Cancelled {
    pub(super) fn from_sdk<R>(err: SdkError<TransactWriteItemsError, R>) -> Self
    where
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let reasons = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                e.cancellation_reasons().to_vec()
            }
            _ => return Self::Failed(StoreError::from_sdk(err)),
        };
        let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
        match read_cancellation(&codes) {
            Reason::Condition => Self::Condition(reasons),
            Reason::Conflict => Self::Conflict,
            Reason::Throttled => Self::Failed(StoreError::Unavailable(Box::new(err))),
            // A transaction names an oversized item in that item's reason, not in its own code.
            Reason::Other if reasons.iter().any(|r| is_item_size(r.message())) => {
                Self::Failed(StoreError::ItemTooLarge(Box::new(err)))
            }
            Reason::Other => Self::Failed(StoreError::from_sdk(err)),
        }
    }
}

/// Whether a single-item conditional write lost a race, by its error code: its condition failed
/// (someone wrote the item since it was read), or a transaction held the item (someone is writing
/// it). Either way the writer reads the item again, rather than answering busy; a transaction in
/// flight is a race like any other (a phone's new code asked for while its last one is checked).
pub(super) fn lost_race(code: Option<&str>) -> bool {
    code == Some("ConditionalCheckFailedException") || held_by_transaction(code)
}

/// Whether a single-item write was refused because a transaction held the item: nothing was
/// written, and the same write may be tried again once the transaction is over.
pub(super) fn held_by_transaction(code: Option<&str>) -> bool {
    code == Some("TransactionConflictException")
}

/// Whether a transaction was cancelled only because another transaction held its item at `index`:
/// that item's reason is a conflict and every other item's is none.
pub(super) fn conflicted_only_at<R>(
    err: &SdkError<TransactWriteItemsError, R>,
    index: usize,
) -> bool {
    let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error()
    else {
        return false;
    };
    let codes: Vec<&str> = e
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or("None"))
        .collect();
    only_conflict_at(&codes, index)
}

fn only_conflict_at(codes: &[&str], index: usize) -> bool {
    codes.get(index) == Some(&"TransactionConflict")
        && codes
            .iter()
            .enumerate()
            .all(|(i, c)| i == index || *c == "None")
}

/// Whether the transaction's item at `index` (in the order it was given) failed its condition.
pub(super) fn condition_failed(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .is_some_and(|r| r.code() == Some("ConditionalCheckFailed"))
}

#[derive(Debug, PartialEq, Eq)]
enum Reason {
    Condition,
    Conflict,
    Throttled,
    Other,
}

fn read_cancellation(codes: &[&str]) -> Reason {
    let any = |names: &[&str]| codes.iter().any(|c| names.contains(c));
    if any(&["ConditionalCheckFailed"]) {
        Reason::Condition
    } else if any(&[
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ]) {
        Reason::Throttled
    } else if any(&["TransactionConflict"]) {
        Reason::Conflict
    } else {
        Reason::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_outages_are_retryable_and_bad_requests_are_not() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "InternalServerError",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "ConditionalCheckFailedException",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }

    #[test]
    fn a_conflict_on_one_item_alone_is_told_from_conflicts_and_failures_elsewhere() {
        assert!(only_conflict_at(
            &["None", "None", "TransactionConflict"],
            2
        ));
        assert!(!only_conflict_at(
            &["TransactionConflict", "None", "TransactionConflict"],
            2
        ));
        assert!(!only_conflict_at(
            &["None", "ConditionalCheckFailed", "TransactionConflict"],
            2
        ));
        assert!(!only_conflict_at(&["None", "None", "None"], 2));
        // The conflict the API tests play carries one reason, naming no item of three.
        assert!(!only_conflict_at(&["TransactionConflict"], 2));
    }

    #[test]
    fn only_messages_about_an_items_size_name_an_oversized_item() {
        assert!(is_item_size(Some(
            "Item size has exceeded the maximum allowed size"
        )));
        assert!(is_item_size(Some(
            "Item size to update has exceeded the maximum allowed size"
        )));
        assert!(!is_item_size(Some(
            "One or more parameter values were invalid"
        )));
        assert!(!is_item_size(None));
    }

    #[test]
    fn a_failed_condition_or_a_held_item_is_a_lost_race_and_only_a_conflict_means_held() {
        // (code, a lost race, held by a transaction)
        let cases = [
            (Some("ConditionalCheckFailedException"), true, false),
            (Some("TransactionConflictException"), true, true),
            (None, false, false),
            (Some("ThrottlingException"), false, false),
            (Some("ProvisionedThroughputExceededException"), false, false),
            (Some("ValidationException"), false, false),
            (Some("TransactionInProgressException"), false, false),
        ];
        for (code, lost, held) in cases {
            assert_eq!(lost_race(code), lost, "{code:?}");
            assert_eq!(held_by_transaction(code), held, "{code:?}");
        }
    }

    #[test]
    fn cancellation_reasons_tell_conditions_from_conflicts_and_throttling() {
        let cases: [(&[&str], Reason); 6] = [
            (
                &["None", "ConditionalCheckFailed", "None"],
                Reason::Condition,
            ),
            (
                &["TransactionConflict", "ConditionalCheckFailed"],
                Reason::Condition,
            ),
            (&["TransactionConflict", "None"], Reason::Conflict),
            (&["ThrottlingError", "None"], Reason::Throttled),
            (
                &["None", "ProvisionedThroughputExceeded"],
                Reason::Throttled,
            ),
            (&["ValidationError"], Reason::Other),
        ];
        for (codes, expected) in cases {
            assert_eq!(read_cancellation(codes), expected, "{codes:?}");
        }
    }
}
