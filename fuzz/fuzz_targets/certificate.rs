//! PEM and PKCS#12 input for certificate credentials.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::certificate(data);
});
