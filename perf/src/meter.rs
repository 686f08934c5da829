//! Counts the DynamoDB calls a request makes, by operation, as an SDK interceptor on the real
//! handlers' client, with their consumed capacity and when each started and was answered.
//! Imports nothing from the crate.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};

/// Counts DynamoDB calls by operation and asks each for its consumed capacity.
#[derive(Debug, Default, Clone)]
pub struct Meter(Arc<Mutex<Usage>>);

#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub calls: BTreeMap<&'static str, u32>,
    pub read_units: f64,
    pub write_units: f64,
    /// Writes DynamoDB Local reported no capacity for: the statements of a PartiQL
    /// `BatchExecuteStatement` that succeeded.
    pub unmetered_writes: usize,
    /// When each call to DynamoDB started and when its answer came back.
    exchanges: Vec<(Instant, Instant)>,
    sent: Vec<Instant>,
}

impl Usage {
    /// Sequential waits on DynamoDB: the exchanges that overlap in time count as one.
    pub fn rounds(&self) -> u32 {
        let mut spans = self.exchanges.clone();
        spans.sort();
        let mut rounds = 0;
        let mut open_until: Option<Instant> = None;
        for (start, end) in spans {
            match open_until {
                Some(until) if start < until => open_until = Some(until.max(end)),
                _ => {
                    rounds += 1;
                    open_until = Some(end);
                }
            }
        }
        rounds
    }
}

impl Meter {
    pub fn take(&self) -> Usage {
        self.0
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }

    fn started(&self) {
        if let Ok(mut u) = self.0.lock() {
            u.sent.push(Instant::now());
        }
    }

    fn answered(&self) {
        if let Ok(mut u) = self.0.lock() {
            // Exchanges answer in any order; pairing each answer with the earliest open send
            // gives the same overlap as the true pairs.
            if !u.sent.is_empty() {
                let start = u.sent.remove(0);
                u.exchanges.push((start, Instant::now()));
            }
        }
    }

    fn add(&self, op: &'static str, capacity: &[ConsumedCapacity]) {
        if let Ok(mut u) = self.0.lock() {
            *u.calls.entry(op).or_default() += 1;
            for c in capacity {
                u.read_units += c.read_capacity_units().unwrap_or_default();
                u.write_units += c.write_capacity_units().unwrap_or_default();
                if c.read_capacity_units().is_none() && c.write_capacity_units().is_none() {
                    // DynamoDB Local may report only the total.
                    if matches!(op, "GetItem" | "BatchGetItem" | "Query") {
                        u.read_units += c.capacity_units().unwrap_or_default();
                    } else {
                        u.write_units += c.capacity_units().unwrap_or_default();
                    }
                }
            }
        }
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "bench-meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_execute_statement::BatchExecuteStatementInput, batch_get_item::BatchGetItemInput,
            get_item::GetItemInput, put_item::PutItemInput, query::QueryInput,
            transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
        };
        // A call's wait starts when the handler makes it, not when its bytes leave: a call that
        // first opens a connection would otherwise look as if it ran after its siblings.
        self.started();
        let total = Some(ReturnConsumedCapacity::Total);
        let input = context.input_mut();
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchExecuteStatementInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.answered();
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_execute_statement::BatchExecuteStatementOutput,
            batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, put_item::PutItemOutput,
            query::QueryOutput, transact_write_items::TransactWriteItemsOutput,
            update_item::UpdateItemOutput,
        };
        let Some(Ok(output)) = context.output_or_error() else {
            // A failed call (a condition that did not hold) still counts as a call.
            let op = context
                .input()
                .map(|i| {
                    if i.downcast_ref::<aws_sdk_dynamodb::operation::put_item::PutItemInput>().is_some() {
                        "PutItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::get_item::GetItemInput>().is_some() {
                        "GetItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput>().is_some() {
                        "BatchGetItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::update_item::UpdateItemInput>().is_some() {
                        "UpdateItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>().is_some() {
                        "TransactWriteItems"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::batch_execute_statement::BatchExecuteStatementInput>().is_some() {
                        "BatchExecuteStatement"
                    } else {
                        "other"
                    }
                })
                .unwrap_or("other");
            self.add(op, &[]);
            return Ok(());
        };
        if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            self.add("GetItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            self.add(
                "BatchGetItem",
                o.consumed_capacity.as_deref().unwrap_or_default(),
            );
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            self.add("PutItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            self.add("UpdateItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            self.add("Query", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            self.add(
                "TransactWriteItems",
                o.consumed_capacity.as_deref().unwrap_or_default(),
            );
        } else if let Some(o) = output.downcast_ref::<BatchExecuteStatementOutput>() {
            let capacity = o.consumed_capacity.as_deref().unwrap_or_default();
            if capacity.is_empty()
                && let Ok(mut u) = self.0.lock()
            {
                u.unmetered_writes += o.responses().iter().filter(|r| r.error.is_none()).count();
            }
            self.add("BatchExecuteStatement", capacity);
        } else {
            self.add("other", &[]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn calls_that_overlap_in_time_count_as_one_round_and_calls_one_after_another_as_one_each() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let usage = Usage {
            // Two calls in flight together, then one alone, then one that starts as it ends.
            exchanges: vec![
                (at(0), at(10)),
                (at(2), at(12)),
                (at(20), at(25)),
                (at(25), at(30)),
            ],
            ..Usage::default()
        };
        assert_eq!(usage.rounds(), 3);
        assert_eq!(Usage::default().rounds(), 0);
    }

    #[test]
    fn a_call_is_counted_by_operation_with_its_capacity_split_into_reads_and_writes() {
        let meter = Meter::default();
        let read = ConsumedCapacity::builder().capacity_units(1.0).build();
        let write = ConsumedCapacity::builder()
            .write_capacity_units(2.0)
            .build();
        meter.add("GetItem", std::slice::from_ref(&read));
        meter.add("TransactWriteItems", &[write]);
        meter.add("PutItem", &[]);
        let usage = meter.take();
        assert_eq!(usage.calls.values().sum::<u32>(), 3);
        assert_eq!((usage.read_units, usage.write_units), (1.0, 2.0));
        assert!(meter.take().calls.is_empty());
    }
}
