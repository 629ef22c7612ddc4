//! A managed identity host's answer (status, a header, a body), for every host.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, Option<String>, Vec<u8>)| {
    msal::fuzzing::managed_identity(input.0, input.1.as_deref(), &input.2);
});
