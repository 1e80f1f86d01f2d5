//! Reading a fuzz input: the mode byte, and lines.

/// The first byte (the mode) and the rest.
pub(crate) fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}

/// Split at the first `\n`: (before, after); all of it and nothing when there is none.
pub(crate) fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
