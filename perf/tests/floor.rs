//! The floors `make bench` compares with do what they say: `FLOOR_SINGLE_THREAD` gives the
//! single-threaded runtime the functions use, no setting the multi-threaded one of `lambda_http`'s
//! examples (counted as the threads of the process once it asks for its first event); floor 0
//! reads each event and answers it through the Runtime API.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// One HTTP request as the floor sent it: the request line and the body.
fn request(reader: &mut impl BufRead) -> (String, String) {
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (
        first.trim_end().to_owned(),
        String::from_utf8(body).unwrap(),
    )
}

#[test]
fn floor_zero_reads_each_event_and_answers_it_on_the_same_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut floor = Command::new(env!("CARGO_BIN_EXE_floor-std"))
        .env_clear()
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            listener.local_addr().unwrap().to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A floor that never connects, or that opens a new connection for its next request, fails
    // the test at a timeout instead of hanging it.
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let connection = loop {
        match listener.accept() {
            Ok((connection, _)) => break connection,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("the floor did not connect: {e}"),
        }
    };
    connection.set_nonblocking(false).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(connection.try_clone().unwrap());
    let mut writer = connection;
    for (id, path) in [("req-1", "/one"), ("req-2", "/two")] {
        let (line, _) = request(&mut reader);
        assert_eq!(line, "GET /2018-06-01/runtime/invocation/next HTTP/1.1");
        let event = format!("{{\"rawPath\":\"{path}\"}}");
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nContent-Length: {}\r\n\r\n{event}",
            event.len()
        )
        .unwrap();
        let (line, body) = request(&mut reader);
        assert_eq!(
            line,
            format!("POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1")
        );
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["statusCode"], 200);
        assert_eq!(answer["body"], format!("hello {path}"));
        write!(writer, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n").unwrap();
    }
    floor.kill().unwrap();
    floor.wait().unwrap();
}
