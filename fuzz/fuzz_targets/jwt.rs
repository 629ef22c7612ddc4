//! A JWT (ID token) decoded without its signature, and its claims read.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::jwt(data);
});
