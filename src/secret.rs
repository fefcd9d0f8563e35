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

/// The words that make a name a credential's, wherever they appear in it (`access_token`,
/// `X-Session-Token`, `client_secret`, `oauth`): the one list for query parameters, header
/// names and extracted variables. Erring towards a credential costs a redacted value or a
/// header not carried to another origin; the other way costs a leak.
const CREDENTIAL_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "auth",
    "session",
    "credential",
    "signature",
    "apikey",
    "jwt",
    "bearer",
    "cookie",
    "csrf",
    "xsrf",
];

/// Short words that make a name a credential's only as a whole part of it (`api_key`,
/// `X-Api-Key`, `accessKey`, `sig`, `sid`, `tok`), never inside another word (`monkey`,
/// `design`, `side`).
const CREDENTIAL_PARTS: &[&str] = &["key", "sig", "sid", "tok", "pw", "pwd", "pass", "code"];

/// Whether `name` (a query parameter, a header, a variable) names a credential: it holds one
/// of [`CREDENTIAL_WORDS`], or one of its parts (split at `_`, `-`, `.`, and where a lowercase
/// letter meets a capital) is one of [`CREDENTIAL_PARTS`].
pub(crate) fn looks_like_credential(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if CREDENTIAL_WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let mut part = String::new();
    let mut prev_lower = false;
    let mut parts = Vec::new();
    for c in name.chars() {
        let split = !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && prev_lower);
        if split && !part.is_empty() {
            parts.push(std::mem::take(&mut part));
        }
        if c.is_ascii_alphanumeric() {
            part.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    parts.push(part);
    parts.iter().any(|p| CREDENTIAL_PARTS.contains(&p.as_str()))
}

/// What stands for a redacted value.
pub(crate) const REDACTED: &str = "***";

/// Every `name=value` after a `?`, `&`, `;` or `#` whose name looks like a credential (see
/// [`looks_like_credential`]) with its value replaced by `***`: in a URL, an endpoint name
/// (`GET /items?api_key=...`) or a message that quotes one (Locust's `... for url: ...`).
/// Text without such a pair comes back unchanged.
pub(crate) fn redact_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['?', '&', ';', '#']) {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.[]%".contains(c)))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value_len = value.find(is_value_end).unwrap_or(value.len());
        if name.is_empty() || value_len == 0 || !looks_like_credential(name) {
            continue;
        }
        out.push_str(name);
        out.push('=');
        out.push_str(REDACTED);
        rest = &value[value_len..];
    }
    out.push_str(rest);
    out
}

/// Where a query value ends in a URL or in the text around one.
fn is_value_end(c: char) -> bool {
    c.is_whitespace() || c.is_control() || "&#;\"'<>`()[]{}|,".contains(c)
}

/// A URL as every output shows it: no credentials in its authority ([`redact_userinfo`]) and
/// none in its query or fragment ([`redact_query`]).
pub(crate) fn redact_url(text: &str) -> String {
    redact_query(&redact_userinfo(text))
}

#[cfg(test)]
mod tests {
    use super::{looks_like_credential, redact_query, redact_url, redact_userinfo};

    #[test]
    fn credential_names_are_told_by_meaning() {
        for name in [
            "token",
            "access_token",
            "api_key",
            "apiKey",
            "X-Api-Key",
            "key",
            "sig",
            "signature",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "password",
            "secret",
            "client_secret",
            "auth",
            "X-Session-Token",
            "sessionid",
            "JSESSIONID",
            "sid",
            "tok",
            "code",
        ] {
            assert!(looks_like_credential(name), "{name}");
        }
        for name in [
            "page", "q", "monkey", "design", "side", "id", "sort", "X-Plain",
        ] {
            assert!(!looks_like_credential(name), "{name}");
        }
    }

    #[test]
    fn query_credentials_are_redacted_wherever_the_url_is() {
        assert_eq!(
            redact_url("https://u:p@h.example/a?page=2&access_token=T0K&sig=abc#x"),
            "https://***@h.example/a?page=2&access_token=***&sig=***#x"
        );
        assert_eq!(
            redact_query("GET /items?api_key=K3Y"),
            "GET /items?api_key=***"
        );
        assert_eq!(
            redact_query("HTTPError('401 for url: http://h/x?token=abc&n=1')"),
            "HTTPError('401 for url: http://h/x?token=***&n=1')"
        );
        // OAuth's implicit flow puts the token in the fragment.
        assert_eq!(
            redact_query("https://h/cb#access_token=T&token_type=bearer"),
            "https://h/cb#access_token=***&token_type=***"
        );
        for plain in [
            "https://h/?page=1&q=a",
            "no url",
            "a?b",
            "?=x",
            "&key=",
            "x?key",
        ] {
            assert_eq!(redact_query(plain), plain);
        }
        assert_eq!(redact_query("ü?tök=ö&key=ü"), "ü?tök=ö&key=***");
    }

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
