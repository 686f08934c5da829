//! A minimal Lambda Runtime API (the part a function talks to) for the benchmarks: it records
//! when the function first asks for work, hands it queued events, and times each answer. Imports
//! nothing from the crate.
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the function did, as the stub saw it.
pub enum Seen {
    /// The first `GET /invocation/next`: the function finished its cold start.
    Ready(Instant),
    /// The function reported an error (`/invocation/{id}/error` or `/init/error`).
    Failed(String),
    /// The answer to an event that was handed out at `handed_at`.
    Response {
        handed_at: Instant,
        answered_at: Instant,
        body: String,
    },
}

pub struct RuntimeStub {
    pub address: String,
    events: Sender<String>,
    pub seen: Receiver<Seen>,
}

impl RuntimeStub {
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let (event_tx, event_rx) = channel::<String>();
        let (seen_tx, seen_rx) = channel::<Seen>();
        let shared = Arc::new(Shared {
            events: Mutex::new(event_rx),
            seen: Mutex::new(seen_tx),
            handed_at: Mutex::new(None),
            ready_sent: Mutex::new(false),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Ok(Self {
            address,
            events: event_tx,
            seen: seen_rx,
        })
    }

    /// Queues an API Gateway event for the function's next `GET /invocation/next`.
    pub fn push(&self, event: String) {
        let _ = self.events.send(event);
    }

    /// `env` with the Runtime API at this stub.
    pub fn pointed_at(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        env.iter()
            .map(|(k, v)| match k.as_str() {
                "AWS_LAMBDA_RUNTIME_API" => (k.clone(), self.address.clone()),
                _ => (k.clone(), v.clone()),
            })
            .collect()
    }

    pub fn next_seen(&self, timeout: Duration) -> anyhow::Result<Seen> {
        self.seen.recv_timeout(timeout).map_err(|_| {
            anyhow::anyhow!("the function did not reach the runtime API within {timeout:?}")
        })
    }
}

struct Shared {
    events: Mutex<Receiver<String>>,
    seen: Mutex<Sender<Seen>>,
    handed_at: Mutex<Option<Instant>>,
    ready_sent: Mutex<bool>,
}

/// One HTTP/1.1 message from a kept-alive connection: its start line and its body, read by its
/// `content-length`. `None` when the peer closed the connection before it.
pub fn read_message(reader: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Some((start, body)))
}

fn serve(stream: TcpStream, shared: &Shared) -> anyhow::Result<()> {
    // Without it, Nagle's algorithm and delayed ACKs add ~40 ms to every small exchange.
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((request_line, body)) = read_message(&mut reader)? else {
            return Ok(());
        };
        let path = request_line.split_whitespace().nth(1).unwrap_or_default();
        if path.ends_with("/invocation/next") {
            hand_next(&mut writer, shared)?;
        } else {
            if path.ends_with("/error") {
                shared.see(Seen::Failed(format!(
                    "{path}: {}",
                    String::from_utf8_lossy(&body)
                )))?;
            } else if path.contains("/response") {
                let handed_at = lock(&shared.handed_at)?.take().unwrap_or_else(Instant::now);
                shared.see(Seen::Response {
                    handed_at,
                    answered_at: Instant::now(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                })?;
            }
            write!(
                writer,
                "HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{{}}"
            )?;
        }
        writer.flush()?;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> anyhow::Result<std::sync::MutexGuard<'_, T>> {
    mutex.lock().map_err(|_| anyhow::anyhow!("poisoned"))
}

impl Shared {
    fn see(&self, seen: Seen) -> anyhow::Result<()> {
        // The receiver may be gone once a measurement is over.
        let _ = lock(&self.seen)?.send(seen);
        Ok(())
    }
}

/// A `GET /invocation/next`: the first one is the end of init; each waits for a queued event and
/// hands it over with the headers Lambda sends.
fn hand_next(writer: &mut TcpStream, shared: &Shared) -> anyhow::Result<()> {
    {
        let mut ready = lock(&shared.ready_sent)?;
        if !*ready {
            *ready = true;
            shared.see(Seen::Ready(Instant::now()))?;
        }
    }
    let event = lock(&shared.events)?.recv()?;
    *lock(&shared.handed_at)? = Some(Instant::now());
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis()
        + 30_000;
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {}\r\n\
         lambda-runtime-deadline-ms: {deadline}\r\n\
         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
         lambda-runtime-trace-id: {}\r\ncontent-length: {}\r\n\r\n{event}",
        uuid_like(),
        trace_id(),
        event.len()
    )?;
    Ok(())
}

/// A fresh X-Ray trace id per invocation, as Lambda sends one: the runtime crate stores each in
/// the process environment, so a stub that repeated one id would hide what that costs (see
/// `soak`).
fn trace_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("Root=1-{:08x}-{n:024x};Parent={n:016x};Sampled=0", n >> 8)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
