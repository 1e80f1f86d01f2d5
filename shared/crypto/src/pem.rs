//! PEM blocks, cut leniently: Alipay's files use 76-column lines and sometimes stray
//! whitespace or `\r\n`, which strict RFC 7468 readers refuse.

use base64::Engine;

/// Base64 with any whitespace (line breaks included) removed.
pub fn base64_body(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Every `-----BEGIN {label}-----` block of `text`, decoded, in order. `None` if a block is
/// not closed or not base64; an empty list if there is none.
pub fn blocks(text: &str, label: &str) -> Option<Vec<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let stop = after.find(&end)?;
        out.push(base64_body(&after[..stop])?);
        rest = &after[stop + end.len()..];
    }
    Some(out)
}

/// The label and decoded body of the first PEM block of `text`.
pub fn first(text: &str) -> Option<(String, Vec<u8>)> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN)? + BEGIN.len();
    let label_end = text[start..].find("-----")? + start;
    let label = &text[start..label_end];
    if label.is_empty() || label.len() > 64 {
        return None;
    }
    let der = blocks(&text[start - BEGIN.len()..], label)?
        .into_iter()
        .next()?;
    Some((label.to_string(), der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_cut_whatever_the_line_length() {
        let text = "junk\r\n-----BEGIN X-----\r\nAAEC\r\nAw==\r\n-----END X-----\n-----BEGIN X-----\nBA==\n-----END X-----";
        assert_eq!(blocks(text, "X"), Some(vec![vec![0, 1, 2, 3], vec![4]]));
        assert_eq!(blocks(text, "Y"), Some(vec![]));
        assert_eq!(blocks("-----BEGIN X-----\nAAEC", "X"), None, "not closed");
        assert_eq!(blocks("-----BEGIN X-----\n!!\n-----END X-----", "X"), None);
        assert_eq!(first(text), Some(("X".into(), vec![0, 1, 2, 3])));
        assert_eq!(first("-----BEGIN -----"), None);
        assert_eq!(first("no pem"), None);
    }
}
