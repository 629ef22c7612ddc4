//! `WWW-Authenticate` headers: bearer claims challenges, Azure Arc's Basic realm.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::challenge(data);
});
