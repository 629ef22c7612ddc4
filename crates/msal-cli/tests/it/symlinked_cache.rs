//! A symbolic link as the shared cache file: every command refuses it with
//! exit 2 and a message naming the link and its target, and the target is
//! left as it was (processes reaching it through another path would take
//! another lock file).

use std::process::Command;

const MSAL: &str = env!("CARGO_BIN_EXE_msal");

#[cfg(unix)]
#[test]
fn commands_refuse_a_symlinked_cache_and_leave_the_target_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.json");
    std::fs::write(&target, "{}").unwrap();
    let link = dir.path().join("token_cache.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [
        vec!["accounts"],
        vec!["logout", "--account", "alice@contoso.onmicrosoft.com"],
        vec![
            "token",
            "--account",
            "alice@contoso.onmicrosoft.com",
            "--authority",
            "https://127.0.0.1:9/contoso",
            "--client-id",
            "c78dd7b7-8e8b-4105-8d0d-b50d7ea15ccb",
            "--scope",
            "User.Read",
        ],
    ] {
        let out = Command::new(MSAL)
            .args(&args)
            .arg("--cache")
            .arg(&link)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("symbolic link"), "{args:?}: {stderr}");
        assert!(stderr.contains(&link.display().to_string()), "{stderr}");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}
