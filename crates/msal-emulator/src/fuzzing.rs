//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never
//! on in a normal build): the emulator's parsers of what clients send.

/// A token request's form body (or an authorize request's query): decoded,
/// or refused; never a panic, and no parameter twice.
pub fn form(data: &[u8]) {
    if let Some(params) = crate::token::form::TokenForm::fuzz(data) {
        let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a duplicated parameter was accepted");
    }
}

/// A directory (`--config`) and an admin fault, as JSON.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(directory) = crate::Directory::from_json(text) {
        let _ = directory.to_json_pretty();
    }
    if let Ok(fault) = serde_json::from_str::<crate::Fault>(text) {
        let _ = fault.check();
        let _ = serde_json::to_string(&fault);
    }
}
