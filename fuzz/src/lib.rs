//! Helpers shared by the fuzz targets: cutting one input into several texts.

/// Splits `data` at each 0xFF byte (never in UTF-8 text, so seeds written as text stay whole)
/// into at most `n` parts, each decoded as lossy UTF-8; missing parts are empty.
pub fn texts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |&b| b == 0xFF)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// The bytes as text (lossy UTF-8), as the probes read files.
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The first byte as a selector, and the rest.
pub fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&b, rest)) => (b, rest),
        None => (0, data),
    }
}
