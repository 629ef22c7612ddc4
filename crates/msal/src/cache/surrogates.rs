//! Lone UTF-16 surrogate escapes (`"\ud800"` without its pair) in a cache
//! file. JSON allows them and MSAL Python reads them (a Python `str` can
//! hold one); a Rust string cannot, and serde_json refuses the whole
//! document. Such a file is read again with each lone surrogate replaced
//! by U+FFFD, so one odd value does not make every token unreadable. Only
//! documents serde_json refused for this reason pay for the second pass.

use std::borrow::Cow;

/// Whether `error` is serde_json refusing a lone surrogate escape.
pub(crate) fn is_lone_surrogate(error: &serde_json::Error) -> bool {
    let message = error.to_string();
    [
        "lone leading surrogate",
        "unexpected end of hex escape",
        "invalid unicode code point",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// `json` with every lone surrogate escape inside strings replaced by
/// `\ufffd`; escaped backslashes (`\\u...` is not an escape) and paired
/// surrogates are left alone.
pub(crate) fn replace_lone_surrogates(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u") && !json.contains("\\U") {
        return Cow::Borrowed(json);
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut copied = 0;
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => {
                if let Some(unit) = unit_at(bytes, i) {
                    if (0xD800..0xDC00).contains(&unit) {
                        // A high surrogate: paired only if a low one follows at once.
                        if unit_at(bytes, i + 6).is_some_and(|next| (0xDC00..0xE000).contains(&next)) {
                            i += 12;
                            continue;
                        }
                    } else if !(0xDC00..0xE000).contains(&unit) {
                        i += 6;
                        continue;
                    }
                    out.push_str(&json[copied..i]);
                    out.push_str("\\ufffd");
                    i += 6;
                    copied = i;
                } else {
                    // Any other escape: skip the backslash and what it escapes.
                    i += 2;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(json);
    }
    out.push_str(json.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// The code unit of a `\uXXXX` escape starting at `at`, if there is one.
fn unit_at(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&escape[2..]).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lone_surrogates_are_replaced() {
        let cases = [
            (r#"{"a":"x\ud800y"}"#, r#"{"a":"x\ufffdy"}"#),
            (r#"{"a":"\udc00"}"#, r#"{"a":"\ufffd"}"#),
            (r#"{"a":"\ud800\ud800\udc00"}"#, r#"{"a":"\ufffd\ud800\udc00"}"#),
            (r#"{"a":"\ud83d\ude00"}"#, r#"{"a":"\ud83d\ude00"}"#),
            (r#"{"a":"\\ud800"}"#, r#"{"a":"\\ud800"}"#),
            (r#"{"a":"\u0041\n"}"#, r#"{"a":"\u0041\n"}"#),
            (r#"{"\ud800":1}"#, r#"{"\ufffd":1}"#),
            (r#"{"a":"\ud8"}"#, r#"{"a":"\ud8"}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(replace_lone_surrogates(input), expected, "{input}");
        }
        // What comes out parses.
        let fixed = replace_lone_surrogates(r#"{"a":"x\ud800y","b":"\udfff"}"#);
        let value: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(value["a"], "x\u{fffd}y");
    }
}
