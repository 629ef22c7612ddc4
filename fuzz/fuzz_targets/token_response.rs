//! A token endpoint's answer (success or error body).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::token_response(data);
});
