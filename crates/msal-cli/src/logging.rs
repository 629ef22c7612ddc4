//! Diagnostics on stderr through `tracing`: `-v` (info), `-vv` (debug) and
//! `-vvv` (trace) for the msal library, the CLI and the emulator, warnings
//! only otherwise; `RUST_LOG` (e.g. `RUST_LOG=msal=trace`) replaces all of
//! that when set. `msal emulator` also prints its per-request access lines
//! (target `msal_emulator::access`) by default.
//!
//! Logs never go to stdout, which carries tokens and JSON for scripts.

use tracing_subscriber::EnvFilter;

/// The environment variable whose filter wins over `--verbose`.
const RUST_LOG: &str = "RUST_LOG";

/// The filter for `verbosity` (`-v` count) when `RUST_LOG` is not set;
/// `access_log` adds the emulator's access lines at INFO.
pub(crate) fn default_directives(verbosity: u8, access_log: bool) -> String {
    let level = match verbosity {
        0 => None,
        1 => Some("info"),
        2 => Some("debug"),
        _ => Some("trace"),
    };
    let mut directives = vec!["warn".to_owned()];
    if let Some(level) = level {
        // The CLI binary's crate is also named `msal`, so `msal=` covers both.
        directives.push(format!("msal={level}"));
        directives.push(format!("msal_emulator={level}"));
    }
    if access_log && verbosity == 0 {
        directives.push(format!("{}=info", msal_emulator::ACCESS_LOG_TARGET));
    }
    if verbosity == 0 {
        // A service's distributed cache warns that it carries on without
        // Redis; the CLI does not carry on, and says so in its own error.
        directives.push("msal::cache::distributed=error".to_owned());
    }
    directives.join(",")
}

/// Installs the stderr subscriber. A `RUST_LOG` that does not parse is
/// reported and the `--verbose` filter used instead.
pub(crate) fn init(verbosity: u8, access_log: bool) {
    let from_env = std::env::var(RUST_LOG).ok().filter(|v| !v.trim().is_empty());
    let mut warning = None;
    let filter = match from_env.map(|value| EnvFilter::try_new(&value)) {
        Some(Ok(filter)) => filter,
        Some(Err(e)) => {
            warning = Some(format!("ignoring {RUST_LOG}: {e}"));
            EnvFilter::new(default_directives(verbosity, access_log))
        }
        None => EnvFilter::new(default_directives(verbosity, access_log)),
    };
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(e) = installed {
        eprintln!("warning: cannot set up logging: {e}");
    }
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels_and_the_access_log() {
        assert_eq!(
            default_directives(0, false),
            "warn,msal::cache::distributed=error"
        );
        assert_eq!(
            default_directives(0, true),
            "warn,msal_emulator::access=info,msal::cache::distributed=error"
        );
        assert_eq!(default_directives(1, false), "warn,msal=info,msal_emulator=info");
        assert_eq!(default_directives(2, true), "warn,msal=debug,msal_emulator=debug");
        assert_eq!(
            default_directives(3, false),
            "warn,msal=trace,msal_emulator=trace"
        );
        assert_eq!(
            default_directives(9, false),
            "warn,msal=trace,msal_emulator=trace"
        );
        for v in 0..4 {
            for access in [false, true] {
                assert!(EnvFilter::try_new(default_directives(v, access)).is_ok());
            }
        }
    }
}
