//! The state directory, kept private: the host lock, each job's process groups and its findings
//! live there, and whoever can write them can make `cleanup` signal a process or take the host.
//! The directory is created with mode 0700 and must belong to the runner's user and be writable
//! by no one else; a symbolic link is refused wherever the driver opens, writes or creates a
//! path in it (`O_NOFOLLOW`, `lstat`), and files are replaced by a rename, never written
//! through.

use std::{
    fs::{DirBuilder, File, OpenOptions},
    io::Write,
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use nix::libc;

use super::ExecutorError;

/// The state directory: created (mode 0700) when missing, refused when it is a symbolic link,
/// not a directory, owned by another user, or writable by its group or others.
pub(crate) fn ensure_private(dir: &Path) -> Result<(), ExecutorError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::create_dir_all(parent).map_err(|e| ExecutorError::io("create", parent, e))?;
        }
    }
    create_private(dir)?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| ExecutorError::io("inspect", dir, e))?;
    let refuse = |reason: String| ExecutorError::UnsafeStateDir {
        path: dir.to_path_buf(),
        reason,
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(refuse("is not a directory".into()));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(refuse(format!(
            "belongs to uid {}, not to the runner's user (uid {me})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "is writable by its group or others (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// A directory inside the state directory: created with mode 0700 when missing; refused when
/// it is a symbolic link, not a directory, or another user's.
pub(crate) fn private_dir(dir: &Path) -> Result<(), ExecutorError> {
    create_private(dir)?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| ExecutorError::io("inspect", dir, e))?;
    if meta.file_type().is_symlink() {
        return Err(ExecutorError::Symlink {
            path: dir.to_path_buf(),
        });
    }
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(ExecutorError::UnsafeStateDir {
            path: dir.to_path_buf(),
            reason: "is not a directory of the runner's user".into(),
        });
    }
    Ok(())
}

fn create_private(dir: &Path) -> Result<(), ExecutorError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(ExecutorError::io("create", dir, e)),
    }
}

/// Opens `path` without following a symbolic link in its last component; new files get mode
/// 0600. A symbolic link is [`ExecutorError::Symlink`].
pub(crate) fn open(path: &Path, options: &mut OpenOptions) -> Result<File, ExecutorError> {
    options
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(path)
        .map_err(|e| nofollow_error(path, "open", e))
}

/// Reads a file of the state directory, up to `cap` bytes; `None` when it does not exist.
/// Larger files are an error: these are the driver's own small records.
pub(crate) fn read(path: &Path, cap: usize) -> Result<Option<String>, ExecutorError> {
    let file = match open(path, OpenOptions::new().read(true)) {
        Ok(f) => f,
        Err(ExecutorError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let bytes = crate::capped::read_capped(file, cap)
        .map_err(|e| ExecutorError::io("read", path, e))?
        .ok_or_else(|| {
            ExecutorError::io(
                "read",
                path,
                std::io::Error::other(format!("larger than {cap} bytes")),
            )
        })?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Replaces `path` with `bytes`: written to a new file beside it, then renamed over it, so a
/// reader never sees half a record and a symbolic link at `path` is replaced, not followed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExecutorError> {
    let tmp = sibling(path, &format!(".tmp-{}", std::process::id()));
    // A file left by a driver that died with this pid: removed, never written through.
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ExecutorError::io("remove", &tmp, e)),
    }
    let written = open(&tmp, OpenOptions::new().write(true).create_new(true)).and_then(|mut f| {
        f.write_all(bytes)
            .map_err(|e| ExecutorError::io("write", &tmp, e))
    });
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|e| ExecutorError::io("replace", path, e))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// `O_NOFOLLOW` on a symbolic link fails with `ELOOP`: said as what it is.
fn nofollow_error(path: &Path, action: &'static str, e: std::io::Error) -> ExecutorError {
    if e.raw_os_error() == Some(libc::ELOOP) {
        ExecutorError::Symlink {
            path: path.to_path_buf(),
        }
    } else {
        ExecutorError::io(action, path, e)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{ensure_private, read, write_atomic};

    #[test]
    fn a_missing_state_dir_is_created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/state");
        ensure_private(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        ensure_private(&dir).unwrap();
    }

    #[test]
    fn a_state_dir_others_can_write_or_reach_through_a_link_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = ensure_private(&open).unwrap_err().to_string();
        assert!(
            err.contains("writable by its group or others (mode 777)"),
            "{err}"
        );
        assert!(
            err.contains("install -d -m 0700"),
            "the message says the fix: {err}"
        );
        let link = root.path().join("link");
        std::os::unix::fs::symlink(root.path(), &link).unwrap();
        let err = ensure_private(&link).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link"), "{err}");
    }

    #[test]
    fn a_state_dir_of_another_user_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let theirs = root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
            let err = ensure_private(&theirs).unwrap_err().to_string();
            assert!(err.contains("belongs to uid 65534"), "{err}");
        } else {
            let err = ensure_private(std::path::Path::new("/"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("belongs to uid 0"), "{err}");
        }
    }

    #[test]
    fn files_are_replaced_not_written_through_a_link() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let record = root.path().join("record");
        std::os::unix::fs::symlink(&victim, &record).unwrap();
        let err = read(&record, 100).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        write_atomic(&record, b"mine").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(read(&record, 100).unwrap().as_deref(), Some("mine"));
        assert_eq!(read(&root.path().join("none"), 100).unwrap(), None);
    }
}
