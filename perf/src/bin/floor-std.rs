//! Floor 0 of `make bench`: the least a Lambda function can do per event, with no runtime crate,
//! no async runtime and no HTTP library. One kept-alive connection to the Runtime API, blocking
//! `std` I/O, the event parsed as JSON (any function must read it) and a fixed API Gateway answer.
//! It is not a way to write a function (no error reporting, no init errors, no tracing header);
//! it shows what an invocation costs on the machine before any library's share.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

fn main() -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    let stream = TcpStream::connect(&api)?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let next = format!("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {api}\r\n\r\n");
    loop {
        // Each request in one write: `write!` on the socket itself would send every piece of the
        // format as its own segment.
        writer.write_all(next.as_bytes())?;
        let (id, event) = read_response(&mut reader)?;
        let event: serde_json::Value = serde_json::from_slice(&event).unwrap_or_default();
        let answer = serde_json::json!({
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "body": format!("hello {}", event["rawPath"].as_str().unwrap_or_default()),
        })
        .to_string();
        let response = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: {api}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        writer.write_all(response.as_bytes())?;
        read_response(&mut reader)?;
    }
}

/// One HTTP/1.1 response: its `Lambda-Runtime-Aws-Request-Id` (empty if none) and its body.
fn read_response(reader: &mut impl BufRead) -> std::io::Result<(String, Vec<u8>)> {
    let mut length = 0;
    let mut id = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                id = value.trim().to_owned();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((id, body))
}
