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

/// A file named from outside (a scenario, a config file, an upload, a results file), read
/// whole if it is a regular file of at most `cap` bytes; otherwise an error of its own kind:
/// `InvalidInput` for anything but a regular file, `FileTooLarge` past the cap. A path to
/// `/dev/zero` must not fill memory, nor a FIFO wait forever: the file is opened without
/// blocking (which a regular file ignores) and checked once open, so a path swapped between a
/// check and the open is still caught.
pub(crate) fn read_file(path: &std::path::Path, cap: usize) -> std::io::Result<Vec<u8>> {
    use std::{
        io::{Error, ErrorKind},
        os::unix::fs::OpenOptionsExt,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    read_capped(file, cap)?.ok_or_else(|| {
        Error::new(
            ErrorKind::FileTooLarge,
            format!("larger than {} MiB", cap >> 20),
        )
    })
}

/// A user's text file (a scenario, a config file): [`read_file`], and UTF-8.
pub(crate) fn read_text_file(path: &std::path::Path, cap: usize) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    String::from_utf8(read_file(path, cap)?)
        .map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}

/// A FIFO with a writer standing by, for the tests that make sure a FIFO is refused unread:
/// the writer opens it as soon as a reader has (and writes `bytes`), so a reader that opened
/// it reads those bytes rather than hang the test.
#[cfg(test)]
pub(crate) struct Fifo {
    pub(crate) path: std::path::PathBuf,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
}

#[cfg(test)]
impl Fifo {
    pub(crate) fn new(path: std::path::PathBuf, bytes: &'static [u8]) -> Fifo {
        use std::{io::Write, os::unix::fs::OpenOptionsExt, sync::atomic::Ordering};
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let opened = std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                        .open(&path);
                    match opened {
                        Ok(mut w) => return drop(w.write_all(bytes)),
                        // No reader yet.
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
                    }
                }
            })
        };
        Fifo {
            path,
            done,
            writer: Some(writer),
        }
    }
}

#[cfg(test)]
impl Drop for Fifo {
    fn drop(&mut self) {
        self.done.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
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

    /// A FIFO nobody writes to is refused at once: opened without blocking, checked open.
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = Fifo::new(dir.path().join("fifo"), b"fifo bytes");
        let e = read_file(&fifo.path, 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(e.to_string(), "not a regular file");
        let e = read_file(&dir.path().join("none"), 1 << 20).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn reads_up_to_the_cap_and_refuses_beyond_it() {
        assert_eq!(read_capped(&b"abc"[..], 3).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(read_capped(&b"abcd"[..], 3).unwrap(), None);
        assert_eq!(read_capped(std::io::repeat(b'x'), 1 << 10).unwrap(), None);
    }
}
