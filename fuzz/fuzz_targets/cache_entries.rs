//! Structure-aware: access token entries whose times, scopes and keys take
//! any value (huge `expires_on`, numbers or strings), looked up and served.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<msal::fuzzing::AccessTokenFields>, u64)| {
    msal::fuzzing::cache_entries(&input.0, input.1);
});
