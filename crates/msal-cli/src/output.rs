//! How results and errors are printed: plain text for people, JSON for scripts.
//! Nothing printed here ever includes a secret other than the token asked for.

use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use msal::{Account, AuthenticationResult, Error};
use serde_json::{Value, json};

/// A result as JSON, with MSAL Python's field names.
pub(crate) fn result_json(result: &AuthenticationResult) -> Value {
    let epoch = |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    json!({
        "access_token": result.access_token.expose_secret(),
        "token_type": result.token_type,
        "expires_in": result.expires_in().as_secs(),
        "expires_on": epoch(result.expires_on),
        "refresh_on": result.refresh_on.map(epoch),
        "scope": result.scopes.join(" "),
        "token_source": result.token_source.as_str(),
        "tenant_id": result.tenant_id,
        "correlation_id": result.correlation_id,
    })
}

/// An account as JSON, with the field names of MSAL Python's `get_accounts`.
/// Accounts hold no secret.
pub(crate) fn account_json(account: &Account) -> Value {
    json!({
        "home_account_id": account.home_account_id,
        "environment": account.environment,
        "realm": account.realm,
        "local_account_id": account.local_account_id,
        "username": account.username,
        "authority_type": account.authority_type,
        "account_source": account.account_source,
    })
}

/// Prints a line on stdout, like `println!`, but a closed pipe (`msal
/// accounts | head -1`) ends the program quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// See [`outln!`].
pub(crate) fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader is gone: nothing more to say to it.
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(1);
    }
}

/// Text from outside (an identity provider's error description) made safe
/// for a terminal: control characters escaped (no ANSI sequences reach
/// it), and cut after [`MAX_SHOWN_CHARS`] characters.
pub(crate) fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_SHOWN_CHARS + 16));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_SHOWN_CHARS {
            out.push_str(" [...]");
            break;
        }
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            // Bidirectional overrides reorder what the terminal shows.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut after [`MAX_SHOWN_CHARS`] characters (JSON escapes the rest).
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((at, _)) => format!("{} [...]", &text[..at]),
        None => text.to_owned(),
    }
}

/// How much of a message from outside is shown.
pub(crate) const MAX_SHOWN_CHARS: usize = 2000;

/// An error as JSON: the identity provider's fields when it sent them.
pub(crate) fn error_json(error: &Error) -> Value {
    let mut json = match error.service_error() {
        Some(e) => json!({
            "error": e.error,
            "error_description": e.error_description.as_deref().map(cut),
            "error_codes": e.error_codes,
            "status": e.status,
            "timestamp": e.timestamp,
            "trace_id": e.trace_id,
            "correlation_id": e.correlation_id,
        }),
        None if error.is_interaction_required() => {
            json!({ "error": "interaction_required", "error_description": cut(&error.to_string()) })
        }
        None => json!({ "error": "client_error", "error_description": cut(&describe(error)) }),
    };
    // Scripts branch on this: sign the user in again (`msal login`).
    json["interaction_required"] = Value::Bool(needs_sign_in(error));
    json
}

/// The message for `error`: its own, except for the Redis cache not
/// answering, which the library's transport error would call an HTTP request.
pub(crate) fn describe(error: &Error) -> String {
    match error {
        Error::Transport(e) if crate::redis_cache::is_redis_url(&e.url) => {
            format!("the token cache at {}: {}", e.url, e.message)
        }
        other => other.to_string(),
    }
}

/// The exit codes every command uses (README, "Exit codes").
pub(crate) mod exit {
    /// The identity provider refused (wrong secret or password, unknown
    /// app or user), or nobody finished signing in.
    pub(crate) const AUTHENTICATION_FAILED: u8 = 1;
    /// Bad arguments, or a cache file that cannot be used.
    pub(crate) const BAD_INPUT: u8 = 2;
    /// The user must sign in again (`msal login`).
    pub(crate) const INTERACTION_REQUIRED: u8 = 3;
    /// The network, TLS, the identity provider being unavailable or
    /// throttling, or a Redis cache not answering.
    pub(crate) const NETWORK: u8 = 4;
    /// Cancelled (Ctrl-C), as shells report SIGINT.
    pub(crate) const CANCELLED: u8 = 130;
}

/// Whether only a new sign-in helps: interaction required, but never a
/// wrong password (AADSTS50126), which the user can simply type again.
fn needs_sign_in(error: &Error) -> bool {
    error.is_interaction_required() && error.service_error().and_then(|s| s.aadsts_code()) != Some(50126)
}

/// The exit code for `error` (see [`exit`]).
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error {
        Error::InvalidArgument(_)
        | Error::ProofOfPossession(_)
        | Error::InvalidAuthority { .. }
        | Error::InvalidInstance { .. }
        | Error::IssuerMismatch { .. }
        | Error::Cache(_)
        | Error::Credential(_) => exit::BAD_INPUT,
        Error::Cancelled => exit::CANCELLED,
        Error::Transport(_) | Error::Throttled { .. } => exit::NETWORK,
        error if needs_sign_in(error) => exit::INTERACTION_REQUIRED,
        _ => exit::AUTHENTICATION_FAILED,
    }
}

/// Reports an error and gives the exit code (see [`exit`]).
pub(crate) fn fail(error: &Error, as_json: bool) -> ExitCode {
    if as_json {
        outln!("{}", error_json(error));
    } else if matches!(error, Error::Cancelled) {
        // The command said so where it stopped: one message.
    } else {
        eprintln!("error: {}", terminal_safe(&describe(error)));
        if needs_sign_in(error) {
            eprintln!("hint: the user must sign in again: run `msal login`");
        } else if let Error::Cache(msal::CacheError::Keyring(_)) = error {
            eprintln!(
                "hint: --cache-store file keeps the cache in a file; --allow-unencrypted-cache falls back \
                 to an unencrypted file where no keyring is reachable"
            );
        } else if let Error::Transport(e) = error {
            if crate::redis_cache::is_redis_url(&e.url) {
                eprintln!(
                    "hint: start Redis there, or choose another cache with --cache (or MSAL_CACHE, or cache in \
                     the config file)"
                );
            } else if e.to_string().to_ascii_lowercase().contains("certificate") {
                eprintln!("hint: the server's certificate is not trusted: pass its CA with --ca-cert");
            } else {
                eprintln!("hint: is the identity provider (or the emulator) running and reachable?");
            }
        }
    }
    ExitCode::from(exit_code(error))
}
