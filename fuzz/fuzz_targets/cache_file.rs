//! A cache file's bytes: loaded or refused, never a panic; a loaded one
//! saves and loads again.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::cache_file(data);
});
