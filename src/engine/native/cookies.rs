//! A virtual user's cookie jar, as a browser or Locust's `HttpUser` session keeps one: cookies
//! from `Set-Cookie` are stored and sent back by the RFC 6265 rules (domain, path, expiry,
//! `Secure`), which `cookie_store` implements; this file only adapts it to the engine.
//!
//! The jar is created on the first cookie: a user whose target never sets one pays one
//! `is_empty` check per request and allocates nothing.

use ::http::HeaderValue;
use cookie_store::{CookieStore, RawCookie};
use url::Url;

/// One user's cookies; empty (no store at all) until a cookie arrives or a step sets one.
#[derive(Default)]
pub(crate) struct Jar {
    store: Option<Box<CookieStore>>,
}

impl Jar {
    /// Whether nothing was ever stored: then no request needs a `Cookie` header or a URL.
    pub(crate) fn is_empty(&self) -> bool {
        self.store.is_none()
    }

    /// Stores the `Set-Cookie` values of a response to `url`. A value that does not parse, or
    /// that the rules refuse (a domain the host does not match), is ignored, as a browser
    /// ignores it; an expired one removes the cookie it names.
    pub(crate) fn store(&mut self, set_cookies: &[String], url: &Url) {
        if set_cookies.is_empty() {
            return;
        }
        let store = self.store.get_or_insert_with(Box::default);
        for text in set_cookies {
            if let Ok(cookie) = RawCookie::parse(text.as_str()) {
                // A refused cookie is not an error of the run: the server's next answer shows
                // whether it mattered.
                let _ = store.insert_raw(&cookie, url);
            }
        }
    }

    /// Puts `name=value` into the jar as if the host of `url` had set it for every path
    /// (`set_cookies:` in a scenario).
    pub(crate) fn set(&mut self, name: &str, value: &str, url: &Url) {
        let cookie = RawCookie::build((name.to_string(), value.to_string()))
            .path("/")
            .build();
        let store = self.store.get_or_insert_with(Box::default);
        let _ = store.insert_raw(&cookie, url);
    }

    /// The `Cookie` header for a request to `url`, if any cookie matches. `Secure` cookies go
    /// only over https, loopback included: `cookie_store` treats loopback http as secure (as
    /// browsers do), but Locust's `requests` does not, and the engines must agree.
    pub(crate) fn header(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.store.as_ref()?;
        let https = url.scheme() == "https";
        let mut out = String::new();
        for c in store.matches(url) {
            if c.secure() == Some(true) && !https {
                continue;
            }
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(c.name());
            out.push('=');
            out.push_str(c.value());
        }
        if out.is_empty() {
            return None;
        }
        HeaderValue::from_str(&out).ok()
    }

    /// The value of an unexpired cookie named `name`, whatever its domain or path (for
    /// `extract: {var: "cookie:NAME"}`).
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.store
            .as_ref()?
            .iter_unexpired()
            .find(|c| c.name() == name)
            .map(|c| c.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn header(jar: &Jar, u: &str) -> Option<String> {
        jar.header(&url(u)).map(|h| h.to_str().unwrap().to_string())
    }

    #[test]
    fn an_empty_jar_has_no_store_and_no_header() {
        let mut jar = Jar::default();
        jar.store(&[], &url("http://a.test/"));
        assert!(jar.is_empty());
        assert_eq!(header(&jar, "http://a.test/"), None);
    }

    #[test]
    fn cookies_go_back_to_their_host_and_path_only() {
        let mut jar = Jar::default();
        jar.store(
            &[
                "sid=1; Path=/; HttpOnly".into(),
                "cart=2; Path=/shop".into(),
            ],
            &url("http://a.test/login"),
        );
        assert_eq!(header(&jar, "http://a.test/"), Some("sid=1".into()));
        let shop = header(&jar, "http://a.test/shop/x").unwrap();
        assert!(shop.contains("sid=1") && shop.contains("cart=2"), "{shop}");
        assert_eq!(header(&jar, "http://b.test/"), None, "another host");
    }

    #[test]
    fn a_domain_cookie_reaches_subdomains_and_a_foreign_domain_is_refused() {
        let mut jar = Jar::default();
        jar.store(
            &[
                "d=1; Domain=a.test; Path=/".into(),
                "x=1; Domain=evil.test".into(),
            ],
            &url("http://www.a.test/"),
        );
        assert_eq!(header(&jar, "http://api.a.test/"), Some("d=1".into()));
        assert_eq!(header(&jar, "http://evil.test/"), None);
    }

    #[test]
    fn secure_cookies_go_over_https_only_even_on_loopback() {
        let mut jar = Jar::default();
        jar.store(&["s=1; Secure; Path=/".into()], &url("https://127.0.0.1/"));
        assert_eq!(header(&jar, "https://127.0.0.1/"), Some("s=1".into()));
        assert_eq!(header(&jar, "http://127.0.0.1/"), None);
    }

    #[test]
    fn an_expired_cookie_removes_the_stored_one() {
        let mut jar = Jar::default();
        let u = url("http://a.test/");
        jar.store(&["sid=1; Path=/".into()], &u);
        assert_eq!(jar.value("sid"), Some("1"));
        jar.store(
            &["sid=gone; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT".into()],
            &u,
        );
        assert_eq!(jar.value("sid"), None);
        assert_eq!(header(&jar, "http://a.test/"), None);
        jar.store(&["m=1; Max-Age=0".into()], &u);
        assert_eq!(header(&jar, "http://a.test/"), None);
    }

    #[test]
    fn malformed_set_cookie_values_are_ignored() {
        let mut jar = Jar::default();
        let u = url("http://a.test/");
        jar.store(
            &["".into(), "=".into(), ";;;".into(), "\u{7f}=\u{0}".into()],
            &u,
        );
        assert_eq!(header(&jar, "http://a.test/"), None);
    }

    #[test]
    fn a_set_cookie_goes_to_every_path_of_the_host() {
        let mut jar = Jar::default();
        jar.set("sid", "abc", &url("http://a.test/"));
        assert_eq!(
            header(&jar, "http://a.test/deep/path"),
            Some("sid=abc".into())
        );
        assert_eq!(jar.value("sid"), Some("abc"));
    }
}
