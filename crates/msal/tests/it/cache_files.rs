//! Cache files under stress: a save killed midway leaves the old or the
//! new cache, and the next save removes what the killed one left; paths
//! that are not regular files are refused at once; a symbolic link stays one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msal::TokenCache;
use serde_json::json;

/// Set in the child this test starts: the path it saves to, again and again.
const WRITER_ENV: &str = "MSAL_TEST_CACHE_WRITER";

/// A cache of about 2 MB, so a save takes long enough to be killed midway.
fn big_cache(generation: u32) -> TokenCache {
    let mut tokens = serde_json::Map::new();
    for i in 0..4000 {
        let key = format!("-localhost-accesstoken-client-{i}-realm-scope");
        tokens.insert(
            key,
            json!({
                "credential_type": "AccessToken", "secret": format!("secret-{generation}-{i}-{}", "x".repeat(400)),
                "home_account_id": null, "environment": "localhost", "client_id": format!("client-{i}"),
                "target": "scope", "realm": "realm", "token_type": "Bearer", "cached_at": "1",
                "expires_on": "4102444800", "extended_expires_on": "4102444800"
            }),
        );
    }
    TokenCache::from_json(&json!({ "AccessToken": tokens }).to_string()).unwrap()
}

/// The writer child: saves for ever (until killed).
#[test]
fn cache_writer_child() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return; // Only does something when started by the test below.
    };
    let path = PathBuf::from(path);
    let mut generation = 1;
    loop {
        big_cache(generation).save_to_file(&path).unwrap();
        generation += 1;
    }
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn killing_saves_midway_leaves_a_whole_cache_and_the_next_save_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    big_cache(0).save_to_file(&path).unwrap();
    let mut left_behind = 0;
    for round in 0..20u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["cache_files::cache_writer_child", "--exact", "--nocapture"])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it in a save: once its temporary file exists (however slow
        // the machine is to start it), a few milliseconds later or at once.
        let mine = format!(".{}.", child.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        while !temporaries(dir.path()).iter().any(|t| t.contains(&mine)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(round % 4));
        child.kill().unwrap();
        child.wait().unwrap();
        // The old cache or a new one: whole either way.
        let cache = TokenCache::load_from_file(&path).unwrap();
        assert_eq!(cache.access_token_count(), 4000, "round {round}");
        // Its own temporary file at least (older rounds' may be gone: each
        // save removes those of dead writers).
        left_behind += usize::from(temporaries(dir.path()).iter().any(|t| t.contains(&mine)));
    }
    assert!(
        left_behind > 0,
        "no save was ever interrupted: the test proved nothing"
    );
    // The next save removes what the killed writers left.
    big_cache(99).save_to_file(&path).unwrap();
    assert_eq!(temporaries(dir.path()), Vec::<String>::new());
    assert_eq!(
        TokenCache::load_from_file(&path).unwrap().access_token_count(),
        4000
    );
}

#[cfg(unix)]
#[test]
fn paths_that_are_not_regular_files_are_refused_at_once_and_links_stay_links() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = Instant::now();
    assert!(matches!(
        TokenCache::load_from_file(&fifo),
        Err(msal::CacheError::Io { .. })
    ));
    assert!(matches!(
        TokenCache::new().save_to_file(&fifo),
        Err(msal::CacheError::Io { .. })
    ));
    assert!(matches!(
        TokenCache::load_from_file(dir.path()),
        Err(msal::CacheError::Io { .. })
    ));
    assert!(matches!(
        TokenCache::new().save_to_file(dir.path()),
        Err(msal::CacheError::Io { .. })
    ));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused without blocking"
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
        "left alone"
    );

    // A symbolic link is written through: it stays a link, its file gets the cache.
    let real = dir.path().join("real.json");
    let link = dir.path().join("link.json");
    big_cache(1).save_to_file(&real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    TokenCache::new().save_to_file(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(TokenCache::load_from_file(&real).unwrap().access_token_count(), 0);
}
