//! A federation server's MEX document and WS-Trust response.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::wstrust(data);
});
