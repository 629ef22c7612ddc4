//! What any local process can send to the loopback redirect port.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, Option<String>, Vec<u8>)| {
    msal::fuzzing::loopback(&input.0, &input.1, input.2.as_deref(), &input.3);
    let _ = msal::fuzzing::params(&input.3);
});
