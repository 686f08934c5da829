//! The floor `make bench` compares with runs on the runtime it says: `FLOOR_SINGLE_THREAD` gives
//! the single-threaded one the functions use, no setting the multi-threaded one of
//! `lambda_http`'s examples. Counted as the threads of the process once it asks for its first event.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// The floor's threads when it first reaches the Runtime API (a listener that never answers).
fn threads_of_floor(single_thread: bool) -> usize {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut floor = Command::new(env!("CARGO_BIN_EXE_floor"));
    floor
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            listener.local_addr().unwrap().to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "floor")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if single_thread {
        floor.env("FLOOR_SINGLE_THREAD", "1");
    }
    let mut child = floor.spawn().unwrap();
    let (_connection, _) = listener.accept().unwrap();
    let threads = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .unwrap()
        .count();
    child.kill().unwrap();
    child.wait().unwrap();
    threads
}

#[test]
fn the_single_threaded_floor_runs_on_one_thread_and_the_usual_one_on_more() {
    assert_eq!(threads_of_floor(true), 1);
    assert!(threads_of_floor(false) > 1);
}
