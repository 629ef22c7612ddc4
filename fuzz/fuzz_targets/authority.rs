//! An authority URL as users and configurations give it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal::fuzzing::authority(data);
});
