//! A small PEM reader (RFC 7468): the labelled blocks of a text, each
//! decoded to DER. Decoded bytes are zeroized on drop, since a block may be a
//! private key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::CredentialError;

/// One `-----BEGIN label-----` … `-----END label-----` block.
pub(super) struct Block {
    pub(super) label: String,
    /// Whether the block had RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED`.
    pub(super) has_headers: bool,
    pub(super) der: Zeroizing<Vec<u8>>,
}

/// Every PEM block in `text`, in order; text around the blocks is ignored.
pub(super) fn parse(text: &str) -> Result<Vec<Block>, CredentialError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut has_headers = false;
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                has_headers = true;
                continue;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(CredentialError::InvalidPem("a block has no END line"));
        }
        let der = STANDARD
            .decode(body.as_bytes())
            .map_err(|_| CredentialError::InvalidPem("a block is not valid base64"))?;
        blocks.push(Block {
            label: label.to_owned(),
            has_headers,
            der: Zeroizing::new(der),
        });
    }
    if blocks.is_empty() {
        return Err(CredentialError::InvalidPem("no PEM block found"));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_and_rejects_damage() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n";
        let blocks = parse(text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der.as_slice(), &[1, 2, 3, 4]);
        assert!(matches!(parse("nothing"), Err(CredentialError::InvalidPem(_))));
        assert!(matches!(
            parse("-----BEGIN X-----\nAQID\n"),
            Err(CredentialError::InvalidPem(_))
        ));
        assert!(matches!(
            parse("-----BEGIN X-----\n!!\n-----END X-----"),
            Err(CredentialError::InvalidPem(_))
        ));
    }
}
