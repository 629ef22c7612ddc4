//! What clients send the emulator: form bodies and query strings, a
//! directory file, an admin fault.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    msal_emulator::fuzzing::form(data);
    msal_emulator::fuzzing::config(data);
});
