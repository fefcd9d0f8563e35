//! Reading what a remote party sends, up to a cap that this side chooses. A leaf: it imports
//! nothing of the crate.

use std::io::Read;

/// Reads `r` to its end if it holds at most `cap` bytes; `Ok(None)` when it holds more (and
/// only `cap + 1` bytes were read to find out).
pub(crate) fn read_capped(r: impl Read, cap: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    r.take(cap as u64 + 1).read_to_end(&mut buf)?;
    Ok((buf.len() <= cap).then_some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_cap_and_refuses_beyond_it() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_capped(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(read_capped(std::io::repeat(b'x'), 1 << 10).unwrap(), None);
    }
}
