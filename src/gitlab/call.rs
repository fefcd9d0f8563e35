//! The REST calls of [`super`], spelled out: method, path under `/api/v4/`, query and form
//! body, as GitLab's API documentation gives them. Written here rather than taken from the
//! `gitlab` crate: its endpoints come only with its client feature, which builds reqwest with a
//! second TLS crypto provider (aws-lc-rs, a C build) beside the engine's ring, for nine calls.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What may not stand in one path segment as it is (GitLab's project paths and refs hold `/`).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'?')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'/');

/// An artifact's path inside the archive: its `/` separate directories and stay.
const DIRECTORY: &AsciiSet = &SEGMENT.remove(b'/');

/// One segment: a project path (`group/project` → `group%2Fproject`) or a ref.
pub(crate) fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A path of segments, its slashes kept: an artifact's path.
pub(crate) fn directory(s: &str) -> String {
    utf8_percent_encode(s, DIRECTORY).to_string()
}

/// One request to GitLab's REST API.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: http::Method,
    /// The path under the API root, its segments already escaped.
    pub(crate) path: String,
    /// Query parameters, in order.
    pub(crate) query: Vec<(&'static str, String)>,
    /// A form body (`application/x-www-form-urlencoded`), for writes.
    pub(crate) form: Vec<(&'static str, String)>,
}

impl Call {
    /// A `GET` of `path`.
    pub(crate) fn get(path: String) -> Call {
        Call {
            method: http::Method::GET,
            path,
            query: Vec::new(),
            form: Vec::new(),
        }
    }

    /// A write (`POST`, `PUT`) of `path` with a form body.
    pub(crate) fn write(
        method: http::Method,
        path: String,
        form: Vec<(&'static str, String)>,
    ) -> Call {
        Call {
            method,
            path,
            query: Vec::new(),
            form,
        }
    }

    /// Adds a query parameter.
    pub(crate) fn with(mut self, key: &'static str, value: impl Into<String>) -> Call {
        self.query.push((key, value.into()));
        self
    }

    /// Adds a query parameter when there is a value.
    pub(crate) fn with_opt(self, key: &'static str, value: Option<impl Into<String>>) -> Call {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// The form body, encoded, if the call has one.
    pub(crate) fn body(&self) -> Option<Vec<u8>> {
        (!self.form.is_empty()).then(|| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish()
                .into_bytes()
        })
    }
}

/// GitLab's offset pagination: pages of at most 100, asked for by number; a page shorter than
/// asked for is the last. Links and `x-total` are not needed (GitLab omits the totals above
/// 10,000 items), and at most `limit` items are read however many pages the server offers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pages {
    per_page: usize,
    limit: usize,
}

impl Pages {
    /// Pages for reading at most `limit` items (at least one).
    pub(crate) fn up_to(limit: usize) -> Pages {
        let limit = limit.max(1);
        Pages {
            per_page: limit.min(100),
            limit,
        }
    }

    /// The call for page `page` (1-based).
    pub(crate) fn page(&self, call: &Call, page: usize) -> Call {
        call.clone()
            .with("per_page", self.per_page.to_string())
            .with("page", page.to_string())
    }

    /// Whether a page of `len` items, with `read` read in all, was the last to ask for.
    pub(crate) fn done(&self, len: usize, read: usize) -> bool {
        len < self.per_page || read >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_escape_the_slash_and_directories_keep_it() {
        assert_eq!(segment("group/sub project"), "group%2Fsub%20project");
        assert_eq!(segment("42"), "42");
        assert_eq!(segment("feature/a#b?c%"), "feature%2Fa%23b%3Fc%25");
        assert_eq!(
            directory("loadforge-gate/results.json"),
            "loadforge-gate/results.json"
        );
        assert_eq!(directory("a b/c?.json"), "a%20b/c%3F.json");
    }

    #[test]
    fn pages_stop_at_a_short_page_or_the_limit() {
        let p = Pages::up_to(250);
        let call = Call::get("projects/1/pipelines".into()).with("sort", "desc");
        let q = p.page(&call, 3).query;
        assert_eq!(
            q,
            vec![
                ("sort", "desc".to_string()),
                ("per_page", "100".to_string()),
                ("page", "3".to_string())
            ]
        );
        assert!(!p.done(100, 100));
        assert!(p.done(99, 199), "a short page is the last");
        assert!(p.done(100, 300), "the limit is reached");
        assert_eq!(Pages::up_to(0).page(&call, 1).query[1].1, "1");
        assert_eq!(Pages::up_to(20).page(&call, 1).query[1].1, "20");
    }

    #[test]
    fn a_form_body_is_url_encoded() {
        let c = Call::write(
            http::Method::POST,
            "x".into(),
            vec![("body", "a&b = ✓".into())],
        );
        assert_eq!(c.body().unwrap(), b"body=a%26b+%3D+%E2%9C%93".to_vec());
        assert!(Call::get("x".into()).body().is_none());
    }
}
