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

/// A user's text file (a scenario, a config file), read whole if it is a regular file of at
/// most `cap` bytes of UTF-8; otherwise an error that says which (a path to `/dev/zero` or a
/// FIFO must neither fill memory nor wait forever).
pub(crate) fn read_text_file(path: &std::path::Path, cap: usize) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let bytes = read_capped(std::fs::File::open(path)?, cap)?.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB", cap >> 20),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_file_is_read_only_when_regular_small_and_utf8() {
        let dir = std::env::temp_dir().join(format!("capped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.yml");
        std::fs::write(&ok, "tasks: []\n").unwrap();
        assert_eq!(read_text_file(&ok, 1 << 20).unwrap(), "tasks: []\n");
        let big = dir.join("big.yml");
        std::fs::write(&big, vec![b'a'; (1 << 20) + 1]).unwrap();
        assert_eq!(
            read_text_file(&big, 1 << 20).unwrap_err().to_string(),
            "larger than 1 MiB"
        );
        let bin = dir.join("bin.yml");
        std::fs::write(&bin, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text_file(&bin, 1 << 20).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        let e = read_text_file(std::path::Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file");
        assert_eq!(
            read_text_file(&dir, 1 << 20).unwrap_err().to_string(),
            "not a regular file"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_up_to_the_cap_and_refuses_beyond_it() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_capped(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(read_capped(std::io::repeat(b'x'), 1 << 10).unwrap(), None);
    }
}
