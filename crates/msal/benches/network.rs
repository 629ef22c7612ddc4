//! Benchmarks over real HTTPS against the in-process emulator: the first
//! token of a new application (TLS handshake, discovery, token request),
//! and the emulator's token endpoint under concurrent client credentials
//! requests.
//!
//! Run with `cargo bench -p msal --bench network`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    reason = "a benchmark: a failed setup ends the run"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use msal::{
    ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, ReqwestHttpClient, TokenCache,
    TokenSource,
};
use msal_emulator::{Emulator, EmulatorConfig, builtin};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
/// Concurrent requests per iteration of the load benchmark.
const CONCURRENCY: usize = 32;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// The built-in daemon app with a new transport (so a new TLS connection)
/// and an empty cache. Instance discovery is off, as MSAL Python must have it
/// on loopback, so every library makes the same two requests.
fn new_daemon(emulator: &Emulator) -> ConfidentialClientApplication {
    daemon_over(emulator, transport(emulator))
}

fn transport(emulator: &Emulator) -> ReqwestHttpClient {
    ReqwestHttpClient::builder()
        .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())
        .expect("the emulator's CA parses")
        .only_added_roots(true)
        .build()
        .expect("the client builds")
}

fn daemon_over(emulator: &Emulator, http: ReqwestHttpClient) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_ID))
        .instance_discovery(false)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(TokenCache::new())
        .http_client(http)
        .build()
        .expect("the app builds")
}

fn first_token(c: &mut Criterion) {
    let rt = runtime();
    let emulator = rt
        .block_on(Emulator::start(EmulatorConfig::default()))
        .expect("the emulator starts");
    let mut group = c.benchmark_group("network");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("first_token_new_app", |b| {
        b.iter(|| {
            let app = new_daemon(&emulator);
            let result = rt
                .block_on(app.acquire_token_for_client([GRAPH_DEFAULT]))
                .expect("the emulator issues a token");
            assert_eq!(result.token_source, TokenSource::IdentityProvider);
            black_box(result)
        })
    });

    // One app per task over one shared transport: requests of one app for one
    // token may be coalesced (single flight), and this measures the endpoint.
    let http = transport(&emulator);
    let apps: Vec<ConfidentialClientApplication> = (0..CONCURRENCY)
        .map(|_| daemon_over(&emulator, http.clone()))
        .collect();
    let options = ClientCredentialsOptions::default().force_refresh(true);
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
    group.bench_function("emulator_token_endpoint_32_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for app in &apps {
                    let app = app.clone();
                    let options = options.clone();
                    tasks.spawn(async move {
                        app.acquire_token_for_client_with([GRAPH_DEFAULT], &options)
                            .await
                            .map(|r| r.token_source)
                    });
                }
                while let Some(joined) = tasks.join_next().await {
                    let source = joined
                        .expect("the task completes")
                        .expect("the emulator issues a token");
                    assert_eq!(source, TokenSource::IdentityProvider);
                }
            })
        })
    });
    group.finish();
    rt.block_on(emulator.shutdown());
}

criterion_group!(benches, first_token);
criterion_main!(benches);
