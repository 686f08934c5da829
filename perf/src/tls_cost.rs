//! `perf tls-cost`: the CPU the TLS handshake with an AWS endpoint adds to a function's first
//! request after a cold start. On AWS the functions talk HTTPS to DynamoDB and SNS; the local stack
//! talks plain HTTP, so the rest of the bench never pays a handshake. Here a TLS server in this
//! process (another thread) terminates TLS in front of DynamoDB Local, with a chain shaped like an
//! AWS endpoint's (an RSA-2048 leaf and intermediate under an RSA-2048 root, as Amazon RSA 2048 Mxx
//! under Amazon Root CA 1), and the functions' own HTTPS client (`shared::state::https_client`,
//! trusting that chain's root instead of Amazon's) makes a new connection for each new client's
//! first GetItem. The same over plain HTTP, in turns, is the baseline: the difference is the
//! handshake, the client's CPU only (this thread's counter; the server's work is on its own
//! thread). Which key exchange, TLS version and session tickets AWS's endpoints use is not known
//! here, so each is measured: TLS 1.3 with the hybrid post-quantum group the client offers first,
//! TLS 1.3 with X25519 alone, the same without session tickets, and TLS 1.2.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256};
use rustls::ServerConfig;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};

use crate::measure::{median, on_own_thread, thread_cpu_ms};
use crate::sdk_cost::{authority, get_nobody, users_table};

/// New clients per arm and round: each one's first GetItem opens a connection.
pub const FIRSTS: usize = 100;
/// Requests per round on a kept-alive connection.
pub const CALLS: usize = 1_000;
pub const ROUNDS: usize = 5;

/// A server chain shaped like an AWS endpoint's, and the root that signs it.
struct Chain {
    root_pem: String,
    /// The leaf, then the intermediate, as the server sends them.
    certs: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn rsa_ca(name: &str) -> anyhow::Result<(CertificateParams, KeyPair)> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    Ok((params, KeyPair::generate_for(&PKCS_RSA_SHA256)?))
}

fn chain() -> anyhow::Result<Chain> {
    let (root_params, root_key) = rsa_ca("Bench Root CA")?;
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root_params, root_key);
    let (mid_params, mid_key) = rsa_ca("Bench RSA 2048 M01")?;
    let mid = mid_params.signed_by(&mid_key, &root_issuer)?;
    let mid_issuer = Issuer::new(mid_params, mid_key);
    let leaf_key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&leaf_key, &mid_issuer)?;
    Ok(Chain {
        root_pem: root.pem(),
        certs: vec![leaf.der().clone(), mid.der().clone()],
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    })
}

/// One way the server may answer the client's hello.
#[derive(Clone, Copy)]
enum Server {
    /// TLS 1.3 with rustls's own preference: the hybrid X25519MLKEM768 group first.
    Hybrid,
    /// TLS 1.3 with X25519 only.
    X25519,
    /// TLS 1.3 with X25519 only, and no session tickets after the handshake (rustls's server
    /// sends two by default, which cost the client more than the key exchange).
    X25519NoTickets,
    /// TLS 1.2 only (ECDHE with RSA signatures).
    Tls12,
}

impl Server {
    const ALL: [Server; 4] = [
        Server::Hybrid,
        Server::X25519,
        Server::X25519NoTickets,
        Server::Tls12,
    ];

    fn config(self, chain: &Chain) -> anyhow::Result<ServerConfig> {
        let mut provider = aws_lc_rs::default_provider();
        let versions: &[&rustls::SupportedProtocolVersion] = match self {
            Server::Hybrid => &[&rustls::version::TLS13],
            Server::X25519 | Server::X25519NoTickets => {
                provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
                &[&rustls::version::TLS13]
            }
            Server::Tls12 => &[&rustls::version::TLS12],
        };
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_single_cert(
                chain.certs.clone(),
                PrivateKeyDer::Pkcs8(chain.key.clone_key()),
            )?;
        if matches!(self, Server::X25519NoTickets) {
            config.send_tls13_tickets = 0;
        }
        Ok(config)
    }

    /// How the row names it, after the version and group the handshakes settled on.
    fn tickets(self) -> &'static str {
        match self {
            Server::Hybrid | Server::X25519 => ", then 2 session tickets",
            Server::X25519NoTickets => ", no session tickets",
            Server::Tls12 => "",
        }
    }
}

/// A TLS server on a thread of its own in front of `upstream` (DynamoDB Local), at the address
/// returned. It records, per connection, the version and group the handshake settled on. It
/// lives as long as this process.
fn serve(config: ServerConfig, upstream: SocketAddr) -> anyhow::Result<(SocketAddr, Negotiated)> {
    let negotiated = Negotiated::default();
    let seen = negotiated.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    seen.note(tls.get_ref().1);
                    if let Ok(mut dynamodb) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut dynamodb).await;
                    }
                });
            }
        });
    });
    Ok((address, negotiated))
}

/// The TLS versions and key exchange groups a server's handshakes settled on.
#[derive(Clone, Default)]
struct Negotiated(Arc<Mutex<std::collections::BTreeSet<String>>>);

impl Negotiated {
    fn note(&self, connection: &rustls::ServerConnection) {
        let version = connection
            .protocol_version()
            .map_or("?".to_owned(), |v| format!("{v:?}"));
        let group = connection
            .negotiated_key_exchange_group()
            .map_or("?".to_owned(), |g| format!("{:?}", g.name()));
        if let Ok(mut seen) = self.0.lock() {
            seen.insert(format!("{version} {group}").replace('_', "."));
        }
    }

    fn describe(&self) -> String {
        self.0
            .lock()
            .map(|seen| seen.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }
}

/// CPU in milliseconds, one figure per round.
pub struct Costs {
    /// Per server: what it negotiated, and a new client's first GetItem over TLS.
    pub first_tls: Vec<(String, Vec<f64>)>,
    /// A new client's first GetItem over plain HTTP.
    pub first_plain: Vec<f64>,
    /// A GetItem on a kept-alive TLS connection (the hybrid server's), and over plain HTTP.
    pub warm_tls: Vec<f64>,
    pub warm_plain: Vec<f64>,
}

impl Costs {
    /// The handshake's CPU, least and most over the TLS rows: each row's median over plain HTTP's.
    pub fn handshake_ms(&self) -> (f64, f64) {
        let plain = median(&self.first_plain);
        let tls: Vec<f64> = self
            .first_tls
            .iter()
            .map(|(_, ms)| median(ms) - plain)
            .collect();
        (
            tls.iter().copied().fold(f64::INFINITY, f64::min),
            tls.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        )
    }
}

/// The arms measured in turns on a thread of its own; `endpoint` is DynamoDB Local's.
pub fn measure(endpoint: &str) -> anyhow::Result<Costs> {
    let upstream: SocketAddr = authority(endpoint)
        .parse()
        .with_context(|| format!("{endpoint} is not http://IP:PORT"))?;
    let chain = chain()?;
    let mut servers = Vec::new();
    for server in Server::ALL {
        let (address, negotiated) = serve(server.config(&chain)?, upstream)?;
        servers.push((address, negotiated, server.tickets()));
    }
    let endpoint = endpoint.to_owned();
    on_own_thread(move || async move {
        measure_on(&endpoint, &servers, &chain.root_pem, &users_table()).await
    })
}

async fn measure_on(
    plain: &str,
    servers: &[(SocketAddr, Negotiated, &'static str)],
    root_pem: &str,
    table: &str,
) -> anyhow::Result<Costs> {
    // Built as the functions build theirs (`state::dynamodb_config`), with the client trusting
    // this run's root. The plain arm uses the same client, so only the scheme differs.
    let client = |endpoint: &str| {
        aws_sdk_dynamodb::Client::from_conf(
            shared::state::dynamodb_config(Some(endpoint))
                .http_client(shared::state::https_client(root_pem.as_bytes()))
                .build(),
        )
    };
    let mut endpoints = vec![plain.trim_end_matches('/').to_owned()];
    endpoints.extend(
        servers
            .iter()
            .map(|(address, _, _)| format!("https://{address}")),
    );
    // Each endpoint answers before anything is measured (and each server's handshake is seen).
    for endpoint in &endpoints {
        get_nobody(&client(endpoint), table).await.with_context(|| {
            format!(
                "a GetItem through {endpoint} (the bench's TLS server in front of DynamoDB Local)"
            )
        })?;
    }
    let warm = [client(&endpoints[0]), client(&endpoints[1])];
    for kept in &warm {
        get_nobody(kept, table).await?;
    }
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); endpoints.len()];
    let mut warm_ms: [Vec<f64>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (endpoint, ms) in endpoints.iter().zip(first.iter_mut()) {
            let start = thread_cpu_ms()?;
            for _ in 0..FIRSTS {
                get_nobody(&client(endpoint), table).await?;
            }
            ms.push((thread_cpu_ms()? - start) / FIRSTS as f64);
        }
        for (kept, ms) in warm.iter().zip(warm_ms.iter_mut()) {
            let start = thread_cpu_ms()?;
            for _ in 0..CALLS {
                get_nobody(kept, table).await?;
            }
            ms.push((thread_cpu_ms()? - start) / CALLS as f64);
        }
    }
    let mut first = first.into_iter();
    let first_plain = first.next().unwrap_or_default();
    let first_tls = servers
        .iter()
        .map(|(_, negotiated, tickets)| negotiated.describe() + tickets)
        .zip(first)
        .collect();
    let [warm_plain, warm_tls] = warm_ms;
    Ok(Costs {
        first_tls,
        first_plain,
        warm_tls,
        warm_plain,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A GetItem through `client` to the TLS server at `address`; only the handshake matters.
    async fn call(client: aws_sdk_dynamodb::config::SharedHttpClient, address: SocketAddr) {
        let client = aws_sdk_dynamodb::Client::from_conf(
            shared::state::dynamodb_config(Some(&format!("https://{address}")))
                .http_client(client)
                .build(),
        );
        // Nothing listens behind the server, so the call fails either way.
        let _ = get_nobody(&client, "t").await;
    }

    /// What the functions trust is what decides: their client (Amazon's roots only) refuses a
    /// server whose chain ends elsewhere, and the same client given that chain's root accepts it.
    /// The bench's measurement rests on the second; the first is the functions' own defence.
    #[tokio::test]
    async fn the_functions_client_completes_a_handshake_only_with_a_chain_under_a_root_it_trusts() {
        let chain = chain().unwrap();
        let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (address, negotiated) = serve(Server::Hybrid.config(&chain).unwrap(), nowhere).unwrap();

        call(shared::state::http_client(), address).await;
        assert_eq!(
            negotiated.describe(),
            "",
            "a handshake under an unknown root"
        );

        call(
            shared::state::https_client(chain.root_pem.as_bytes()),
            address,
        )
        .await;
        assert_eq!(negotiated.describe(), "TLSv1.3 X25519MLKEM768");
    }
}
