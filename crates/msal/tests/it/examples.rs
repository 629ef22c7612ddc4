//! The runnable examples in `crates/msal/examples/`, run as a user would
//! run them (each starts the local emulator when no real authority or host
//! is configured): they succeed and print what they promise.

use std::process::Command;

/// Runs an example as a user would (`cargo run --example`; `cargo test`
/// has built it already), off the async runtime, with a clean environment.
async fn run(name: &str, env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["run", "--quiet", "-p", "msal", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for var in [
        "MSAL_AUTHORITY",
        "MSAL_CLIENT_ID",
        "MSAL_CLIENT_SECRET",
        "MSAL_EMULATE_HOST",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_daemon_example_gets_a_token_then_serves_it_from_the_cache() {
    let out = run("client_credentials", &[]).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("token from identity_provider"), "{out}");
    assert!(lines[1].starts_with("token from cache"), "{out}");
}

#[tokio::test]
async fn the_managed_identity_example_runs_on_every_emulated_host() {
    for host in [
        "imds",
        "app_service",
        "azure_ml",
        "service_fabric",
        "azure_arc",
        "cloud_shell",
    ] {
        let out = run("managed_identity", &[("MSAL_EMULATE_HOST", host)]).await;
        assert!(
            out.starts_with(&format!("managed identity host: {host}\n")),
            "{out}"
        );
        assert!(
            out.contains("token from identity_provider") && out.contains("token from cache"),
            "{out}"
        );
    }
}
