//! `multipart:` request bodies (`multipart/form-data`, RFC 7578): text fields that are
//! templates, and small files read from the repository when the scenario loads, as a browser
//! uploads a form or Locust's `files=` sends one.
//!
//! ```yaml
//! multipart:
//!   title: "Report ${env.QUARTER:-Q1}"
//!   file: {file: fixtures/report.csv, content_type: text/csv}   # filename defaults to the file's
//! ```

use std::{collections::BTreeMap, path::Path};

use bytes::Bytes;
use serde::Deserialize;

use super::Template;

/// The largest file a part may carry unless the scenario says otherwise
/// (`defaults.max_upload_mib`): uploads in a load test are fixtures, not payloads.
pub(crate) const MAX_FILE_BYTES: usize = 8 << 20;
/// The most `defaults.max_upload_mib` may raise it to.
pub(crate) const MAX_UPLOAD_MIB: u32 = 1024;

/// A part as the YAML gives it: a text value, or a file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawPart {
    Text(String),
    File(RawFilePart),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilePart {
    /// Relative to the scenario file.
    file: String,
    content_type: Option<String>,
    filename: Option<String>,
}

/// A compiled part.
#[derive(Debug)]
pub(crate) enum Part {
    Text(String, Template),
    File {
        name: String,
        filename: String,
        content_type: String,
        bytes: Bytes,
    },
}

/// A compiled multipart body and its boundary.
#[derive(Debug)]
pub(crate) struct Multipart {
    pub(crate) parts: Vec<Part>,
    boundary: String,
}

impl Multipart {
    /// The `Content-Type` the body goes with.
    pub(crate) fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The body, each text part's value given by `text` (its template rendered). `None` when a
    /// text part's value cannot be had.
    pub(crate) fn encode<E>(
        &self,
        mut text: impl FnMut(&Template) -> Result<String, E>,
    ) -> Result<Bytes, E> {
        let mut out = Vec::new();
        for part in &self.parts {
            out.extend_from_slice(format!("--{}\r\n", self.boundary).as_bytes());
            match part {
                Part::Text(name, t) => {
                    let disposition = format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                        quoted(name)
                    );
                    out.extend_from_slice(disposition.as_bytes());
                    out.extend_from_slice(text(t)?.as_bytes());
                }
                Part::File {
                    name,
                    filename,
                    content_type,
                    bytes,
                } => {
                    let head = format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
                        quoted(name),
                        quoted(filename)
                    );
                    out.extend_from_slice(head.as_bytes());
                    out.extend_from_slice(bytes);
                }
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        Ok(Bytes::from(out))
    }

    /// Whether every text part is fixed, so the body can be encoded once.
    pub(crate) fn is_static(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Text(_, t) => t.is_static(),
            Part::File { .. } => true,
        })
    }
}

/// Why a part's file cannot be sent, and what to do: one line.
fn refusal(path: &Path, e: &std::io::Error, cap: usize) -> String {
    let path = path.display();
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("cannot read {path}: {e}; the path is relative to the scenario file")
        }
        std::io::ErrorKind::InvalidInput => format!(
            "{path} is not a regular file (a device, a FIFO or a folder); a file part sends a file"
        ),
        std::io::ErrorKind::FileTooLarge => format!(
            "{path} is larger than {} MiB, the most a file part may be; upload a smaller file or raise `defaults.max_upload_mib` (at most {MAX_UPLOAD_MIB})",
            cap >> 20
        ),
        _ => format!("cannot read {path}: {e}"),
    }
}

/// A name or file name inside a quoted header parameter: quotes and line breaks escaped as
/// browsers do (RFC 7578 4.2), so a name cannot break the part's head.
fn quoted(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Compiles `raw`: text values through `template`, files read from `base` (the scenario's
/// folder), each of at most `file_cap` bytes. Errors name the part's field and say what to fix.
pub(crate) fn compile(
    raw: BTreeMap<String, RawPart>,
    base: &Path,
    file_cap: usize,
    mut template: impl FnMut(&str, &str) -> Result<Template, String>,
) -> Result<Multipart, (String, String)> {
    let mut parts = Vec::with_capacity(raw.len());
    for (name, part) in raw {
        parts.push(match part {
            RawPart::Text(v) => {
                Part::Text(name.clone(), template(&v, &name).map_err(|e| (name, e))?)
            }
            RawPart::File(f) => file_part(name, f, base, file_cap)?,
        });
    }
    let boundary = format!("loadforge-gate-{:032x}", rand::random::<u128>());
    Ok(Multipart { parts, boundary })
}

fn file_part(
    name: String,
    f: RawFilePart,
    base: &Path,
    cap: usize,
) -> Result<Part, (String, String)> {
    let path = base.join(&f.file);
    let bytes = crate::capped::read_file(&path, cap)
        .map_err(|e| (name.clone(), refusal(&path, &e, cap)))?;
    let filename = f.filename.unwrap_or_else(|| {
        Path::new(&f.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into())
    });
    Ok(Part::File {
        name,
        filename,
        content_type: f
            .content_type
            .unwrap_or_else(|| "application/octet-stream".into()),
        bytes: Bytes::from(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: &str, _: &str) -> Result<Template, String> {
        Ok(Template::literal(v))
    }

    #[test]
    fn text_and_file_parts_encode_as_a_browser_sends_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.csv"), "a,b\n1,2\n").unwrap();
        let yaml = "title: Q1\nreport: {file: r.csv, content_type: text/csv}\n";
        let raw: BTreeMap<String, RawPart> = crate::yaml::from_str(yaml).unwrap();
        let m = compile(raw, dir.path(), MAX_FILE_BYTES, lit).unwrap();
        assert!(m.is_static());
        let body = m
            .encode(|t| Ok::<_, ()>(t.as_static().unwrap().to_string()))
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        let b = &m.boundary;
        assert_eq!(
            text,
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"report\"; filename=\"r.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n\r\n\
                 --{b}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nQ1\r\n--{b}--\r\n"
            )
        );
        assert!(m.content_type().ends_with(b.as_str()));
    }

    #[test]
    fn missing_and_oversized_files_name_the_part() {
        let dir = tempfile::tempdir().unwrap();
        let raw: BTreeMap<String, RawPart> =
            crate::yaml::from_str("doc: {file: nope.bin}\n").unwrap();
        let (at, e) = compile(raw, dir.path(), MAX_FILE_BYTES, lit).unwrap_err();
        assert_eq!(at, "doc");
        assert!(e.contains("relative to the scenario file"), "{e}");
        let big = std::fs::File::create(dir.path().join("big.bin")).unwrap();
        big.set_len(MAX_FILE_BYTES as u64 + 1).unwrap();
        let raw = || -> BTreeMap<String, RawPart> {
            crate::yaml::from_str("doc: {file: big.bin}\n").unwrap()
        };
        let (_, e) = compile(raw(), dir.path(), MAX_FILE_BYTES, lit).unwrap_err();
        assert!(e.contains("larger than 8 MiB"), "{e}");
        assert!(e.contains("defaults.max_upload_mib"), "{e}");
        assert!(
            compile(raw(), dir.path(), 9 << 20, lit).is_ok(),
            "a raised cap"
        );
    }

    /// Finding (hardening round 3): a file part was checked by its metadata size, then read
    /// without a cap, so `file: /dev/zero` (size 0) grew `validate` to 1 GB and killed it.
    #[test]
    fn a_multipart_file_of_dev_zero_is_refused_in_bounded_memory() {
        let raw: BTreeMap<String, RawPart> =
            crate::yaml::from_str("doc: {file: /dev/zero}\n").unwrap();
        let (compiled, heap) =
            crate::test_memory::measure(|| compile(raw, Path::new("."), MAX_FILE_BYTES, lit));
        eprintln!(
            "multipart /dev/zero: peak {:.2} MiB (cap {} MiB)",
            heap.peak_mib(),
            MAX_FILE_BYTES >> 20
        );
        let (at, e) = compiled.unwrap_err();
        assert_eq!(at, "doc");
        assert_eq!(
            e,
            "/dev/zero is not a regular file (a device, a FIFO or a folder); a file part sends a file"
        );
        assert!(
            heap.peak <= MAX_FILE_BYTES as u64,
            "peak {} bytes",
            heap.peak
        );
    }

    /// Finding (hardening round 3): a FIFO as a file part made the scenario's load wait for a
    /// writer forever. A writer stands by here, so the old reader would have read it rather
    /// than hang the test; the part is refused.
    #[test]
    fn a_fifo_as_a_multipart_file_is_a_clear_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let _fifo = crate::capped::Fifo::new(dir.path().join("upload.fifo"), b"fifo bytes");
        let raw: BTreeMap<String, RawPart> =
            crate::yaml::from_str("doc: {file: upload.fifo}\n").unwrap();
        let (_, e) =
            compile(raw, dir.path(), MAX_FILE_BYTES, lit).expect_err("a FIFO is no file to upload");
        assert!(e.contains("upload.fifo is not a regular file"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
