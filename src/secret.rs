//! A credential that must never reach a log, report, comment or child process it is not meant
//! for, and URLs shown without theirs. A leaf: it imports nothing of the crate, so every layer
//! can hold one.

use std::fmt;

/// A credential that must never reach a log, report or comment: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `scheme://user:password@host/...` as `scheme://***@host/...`; other text unchanged. Every
/// URL the gate prints that may carry credentials (`--host`, `--loadforge-url`, LoadForge's
/// link to a run) goes through this first.
///
/// A text that does not parse as a URL is redacted up to its last `@`: a password holding an
/// unescaped `/`, `?` or `#` (`https://deploy:ab/cd@host`) breaks the URL, and its message must
/// not print the password because the authority ended early.
pub(crate) fn redact_userinfo(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    if url::Url::parse(text).is_err() {
        return match rest.rsplit_once('@') {
            Some((_, after)) => format!("{scheme}://***@{after}"),
            None => text.to_string(),
        };
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            let after = rest.get(authority.len()..).unwrap_or_default();
            format!("{scheme}://***@{host}{after}")
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn credentials_in_a_url_are_redacted_and_nothing_else_changes() {
        assert_eq!(
            redact_userinfo("https://a:b@h.example/x@y"),
            "https://***@h.example/x@y"
        );
        assert_eq!(
            redact_userinfo("https://deploy:p@ss@h.example:8443?q=@#f@"),
            "https://***@h.example:8443?q=@#f@"
        );
        assert_eq!(redact_userinfo("https://ü:ö@h/é"), "https://***@h/é");
        for plain in ["https://h.example/a@b", "no url", "x://", "ü://@"] {
            let redacted = redact_userinfo(plain);
            assert!(plain == redacted || redacted.contains("***@"), "{plain}");
        }
        // A password that breaks the URL is still never printed.
        assert_eq!(
            redact_userinfo("https://deploy:ab/cd@h.example"),
            "https://***@h.example"
        );
        assert_eq!(
            redact_userinfo("https://deploy:ab?cd@h.example:99999"),
            "https://***@h.example:99999"
        );
        assert_eq!(
            redact_userinfo("https://h.example/a@b"),
            "https://h.example/a@b"
        );
    }
}
