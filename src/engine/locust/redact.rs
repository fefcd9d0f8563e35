//! Locust's own files (its CSVs, its JSON, the final failures, its log) are kept with the
//! artifacts, and Locust names a request by its URL: `/items?api_key=...` would be published
//! there though every report shows it redacted. Once the run's result is read, each file is
//! rewritten line by line through [`crate::secret::redact_query`], and left as it was when
//! nothing in it looks like a credential.

use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::Path,
};

/// The longest line read at once; a longer one is cut there, which only a locustfile that
/// prints without new lines makes.
const MAX_LINE: u64 = 1 << 20;

/// Rewrites every regular file directly in `dir` (not the gate's plugin, which is ours) without
/// the credentials of its queries. A file that cannot be read or written is left as it is:
/// the result is already read, and the run is not failed for its leftovers.
pub(super) fn redact_files(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && path != keep {
            let _ = redact_file(&path);
        }
    }
}

fn redact_file(path: &Path) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.redacted"));
    let mut reader = BufReader::new(File::open(path)?);
    let mut writer = BufWriter::new(File::create(&tmp)?);
    let mut changed = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if Read::by_ref(&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?
            == 0
        {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let redacted = crate::secret::redact_query(&text);
        changed |= redacted != text;
        writer.write_all(redacted.as_bytes())?;
    }
    writer.flush()?;
    drop(writer);
    match changed {
        true => std::fs::rename(&tmp, path),
        false => std::fs::remove_file(&tmp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_credentials_leave_locusts_files_and_nothing_else_changes() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("locust_stats.csv");
        let plain = dir.path().join("locust.log");
        let plugin = dir.path().join("plugin.py");
        std::fs::write(&csv, "GET,/x?api_key=K3Y&page=1,1\nGET,/y,2\n").unwrap();
        std::fs::write(&plain, "nothing \u{fffd} here\n").unwrap();
        std::fs::write(&plugin, "key?token=ours").unwrap();
        redact_files(dir.path(), &plugin);
        assert_eq!(
            std::fs::read_to_string(&csv).unwrap(),
            "GET,/x?api_key=***&page=1,1\nGET,/y,2\n"
        );
        assert_eq!(
            std::fs::read_to_string(&plain).unwrap(),
            "nothing \u{fffd} here\n"
        );
        assert_eq!(std::fs::read_to_string(&plugin).unwrap(), "key?token=ours");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 3, "no temporary file left");
    }
}
