//! Shared helpers of the codec integration tests.
#![allow(dead_code)]

/// Every message stored in tests/vectors (the ovs-ofctl captures).
pub(crate) fn golden_messages() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/vectors")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let text = std::fs::read_to_string(e.path()).expect("vector file");
        let mut cur = String::new();
        for line in text.lines().chain(std::iter::once("")) {
            if line.starts_with('#') || line.trim().is_empty() {
                if !cur.is_empty() {
                    out.push(hex::decode(&cur).expect("vector hex"));
                    cur.clear();
                }
            } else {
                cur.push_str(line.trim());
            }
        }
    }
    assert!(
        out.len() > 60,
        "expected the golden vectors in {}",
        dir.display()
    );
    out
}
