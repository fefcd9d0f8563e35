//! The REST calls of [`super`], spelled out: method, path under `/api/v4/`, query and form
//! body, as GitLab's API documentation gives them. Written here rather than taken from the
//! `gitlab` crate: its endpoints come only with its client feature, which builds reqwest with a
//! second TLS crypto provider (aws-lc-rs, a C build) beside the engine's ring, for ten calls.

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

    /// A `DELETE` of `path`: no query, no body.
    pub(crate) fn delete(path: String) -> Call {
        Call {
            method: http::Method::DELETE,
            path,
            query: Vec::new(),
            form: Vec::new(),
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

/// GitLab's offset pagination (`lib/gitlab/pagination/offset_pagination.rb`; the REST API
/// docs, `doc/api/rest/_index.md`, "Offset-based pagination"): pages of at most 100, asked for
/// by number, each answer saying which page comes next.
///
/// A short page is not the last: GitLab cuts the page first and filters it after, so "the
/// current page can have less elements than :per_page even if there's more than one page"
/// (`lib/api/notes.rb`: notes the user may not read are dropped from a page already cut).
/// The answer's own headers say whether another page follows; only an answer with none of
/// them (see [`Said`]) falls back to "a short page is the last". However many pages a server
/// offers, at most `limit` items and as many pages as `limit` items fill are read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pages {
    per_page: usize,
    limit: usize,
    max_pages: usize,
}

/// How far a listing has come, after one more page.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    /// The number of the page just read.
    pub(crate) page: usize,
    /// How many pages were asked for in all.
    pub(crate) pages: usize,
    /// How many items the page just read held (after GitLab's filtering).
    pub(crate) on_page: usize,
    /// How many items were taken in all.
    pub(crate) items: usize,
}

impl Pages {
    /// Pages for reading at most `limit` items (at least one).
    pub(crate) fn up_to(limit: usize) -> Pages {
        let limit = limit.max(1);
        let per_page = limit.min(100);
        Pages {
            per_page,
            limit,
            max_pages: limit.div_ceil(per_page),
        }
    }

    /// The call for page `page` (1-based).
    pub(crate) fn page(&self, call: &Call, page: usize) -> Call {
        call.clone()
            .with("per_page", self.per_page.to_string())
            .with("page", page.to_string())
    }

    /// The page to ask for next, or `None` when the listing is done: the answer's paging
    /// headers say so, or the caps are reached. A next page must come after this one, so a
    /// server pointing back cannot keep the listing going.
    pub(crate) fn next(&self, headers: &http::HeaderMap, at: Progress) -> Option<usize> {
        if at.items >= self.limit || at.pages >= self.max_pages {
            return None;
        }
        let next = match Said::by(headers) {
            Said::Next(page) => page.unwrap_or(at.page + 1),
            Said::Last => return None,
            // No paging headers at all (a proxy that strips them, a server that is not
            // GitLab): a page shorter than asked for is the last, as before GitLab said so.
            Said::Nothing => {
                if at.on_page < self.per_page {
                    return None;
                }
                at.page + 1
            }
        };
        (next > at.page).then_some(next)
    }
}

/// What an answer's headers say about the next page. GitLab's `OffsetHeaderBuilder`
/// (`lib/gitlab/pagination/offset_header_builder.rb`) always sends `x-per-page`, `x-page`,
/// `x-next-page` (empty on the last page), `x-prev-page` and a `Link` (`rel="first"` at
/// least, `rel="next"` unless on the last page); `x-total` and `x-total-pages` only up to
/// 10,000 items (the docs' "Pagination response headers"). Any of them makes the answer a
/// paged one; an answer with none of them says [`Said::Nothing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    /// Another page follows: its number, when the headers give a readable one.
    Next(Option<usize>),
    /// This page is the last.
    Last,
    /// No paging headers.
    Nothing,
}

/// The headers that make an answer a paged one.
const PAGING_HEADERS: [&str; 7] = [
    "x-next-page",
    "x-page",
    "x-per-page",
    "x-prev-page",
    "x-total",
    "x-total-pages",
    "link",
];

impl Said {
    /// `x-next-page` first, a number or empty; else the `Link` header's `rel="next"`. Only the
    /// page number is taken from a link, never its address: GitLab builds it on its
    /// configured host (`base_request_uri`), which need not be the one `CI_API_V4_URL` names,
    /// and the token goes to that one alone.
    fn by(headers: &http::HeaderMap) -> Said {
        if !PAGING_HEADERS.iter().any(|h| headers.contains_key(*h)) {
            return Said::Nothing;
        }
        let next_page = headers.get("x-next-page").and_then(|v| v.to_str().ok());
        if let Some(n) = next_page.map(str::trim) {
            if n.is_empty() {
                return Said::Last;
            }
            if let Ok(page) = n.parse() {
                return Said::Next(Some(page));
            }
        }
        let next = headers
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(links)
            .find(|(_, params)| is_next(params));
        match next {
            Some((target, _)) => Said::Next(page_of(target)),
            // Paged, and neither header names a next page: GitLab's empty `x-next-page`
            // dropped on the way (some proxies drop empty headers), and no `rel="next"`.
            None => Said::Last,
        }
    }
}

/// The links of one `Link` header value (RFC 8288): each `<target>` with its parameters.
fn links(value: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let tail = &after[close + 1..];
        let params_end = tail.find('<').unwrap_or(tail.len());
        // The comma that separates this link from the next is not a parameter.
        let params = tail[..params_end].trim_end().trim_end_matches(',');
        found.push((&after[..close], params));
        rest = &tail[params_end..];
    }
    found
}

/// Whether a link's parameters hold `rel="next"` (a relation type among others, any case).
fn is_next(params: &str) -> bool {
    params.split(';').any(|p| {
        let Some((key, value)) = p.split_once('=') else {
            return false;
        };
        key.trim().eq_ignore_ascii_case("rel")
            && (value.trim().trim_matches('"').split_whitespace())
                .any(|rel| rel.eq_ignore_ascii_case("next"))
    })
}

/// The `page` query parameter of a link's target.
fn page_of(target: &str) -> Option<usize> {
    let (_, query) = target.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.trim().parse().ok())
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

    /// Headers from name-value pairs.
    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn at(page: usize, on_page: usize, items: usize) -> Progress {
        Progress {
            page,
            pages: page,
            on_page,
            items,
        }
    }

    #[test]
    fn pages_are_asked_for_by_number_within_the_limit() {
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
        assert_eq!(Pages::up_to(0).page(&call, 1).query[1].1, "1");
        assert_eq!(Pages::up_to(20).page(&call, 1).query[1].1, "20");
        let more = headers(&[("x-next-page", "4")]);
        assert_eq!(p.next(&more, at(3, 100, 250)), None, "the item limit");
        assert_eq!(
            p.next(&more, at(3, 10, 210)),
            None,
            "three pages hold 250 items: no fourth is asked for"
        );
        assert_eq!(p.next(&more, at(2, 10, 110)), Some(4));
    }

    /// GitLab filters notes after it cuts the page (`lib/api/notes.rb`): a short page with a
    /// next page is followed, as its headers say.
    #[test]
    fn a_short_page_is_followed_when_gitlab_names_a_next_page() {
        let p = Pages::up_to(10_000);
        let next = headers(&[
            ("x-page", "1"),
            ("x-per-page", "100"),
            ("x-next-page", "2"),
            ("x-prev-page", ""),
        ]);
        assert_eq!(p.next(&next, at(1, 93, 93)), Some(2));
        let last = headers(&[("x-page", "2"), ("x-next-page", ""), ("x-prev-page", "1")]);
        assert_eq!(p.next(&last, at(2, 100, 193)), None, "a full last page");
    }

    #[test]
    fn the_link_header_names_the_next_page_when_x_next_page_is_missing() {
        let p = Pages::up_to(10_000);
        // As `OffsetHeaderBuilder` writes it: prev, next, first, and last when counted; on
        // GitLab's configured host, which may not be the one asked.
        let link = "<https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes?id=42&noteable_id=7&page=1&per_page=100>; rel=\"prev\", \
            <https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes?id=42&noteable_id=7&page=3&per_page=100>; rel=\"next\", \
            <https://gitlab.example.com/api/v4/projects/42/merge_requests/7/notes?id=42&noteable_id=7&page=1&per_page=100>; rel=\"first\"";
        assert_eq!(p.next(&headers(&[("link", link)]), at(2, 40, 140)), Some(3));
        // Only `first` (and `last`): no next page, however full this one.
        let end = "<https://h/x?page=1&per_page=100>; rel=\"first\", <https://h/x?page=2&per_page=100>; rel=\"last\"";
        assert_eq!(p.next(&headers(&[("link", end)]), at(2, 100, 200)), None);
        // A next link whose page cannot be read: the next by number.
        let odd = "<https://h/x?cursor=abc>; rel=\"next\"";
        assert_eq!(p.next(&headers(&[("link", odd)]), at(2, 100, 200)), Some(3));
        // x-next-page goes first; an unreadable one leaves the word to the link.
        let both = headers(&[("x-next-page", "junk"), ("link", link)]);
        assert_eq!(p.next(&both, at(2, 40, 140)), Some(3));
        assert_eq!(
            p.next(
                &headers(&[("x-next-page", ""), ("link", link)]),
                at(2, 40, 140)
            ),
            None
        );
    }

    #[test]
    fn without_paging_headers_a_short_page_is_the_last() {
        let p = Pages::up_to(10_000);
        let none = headers(&[("content-type", "application/json")]);
        assert_eq!(p.next(&none, at(1, 100, 100)), Some(2));
        assert_eq!(p.next(&none, at(1, 99, 99)), None);
        // Paged, but the empty x-next-page was dropped on the way: the last page.
        let paged = headers(&[("x-page", "4"), ("x-per-page", "100")]);
        assert_eq!(p.next(&paged, at(4, 100, 400)), None);
    }

    #[test]
    fn a_next_page_that_points_back_ends_the_listing() {
        let p = Pages::up_to(10_000);
        assert_eq!(
            p.next(&headers(&[("x-next-page", "2")]), at(2, 100, 200)),
            None
        );
        assert_eq!(
            p.next(&headers(&[("x-next-page", "1")]), at(5, 100, 500)),
            None
        );
    }

    #[test]
    fn rel_next_is_found_among_relation_types_in_any_case() {
        assert!(is_next(" rel=\"prev NEXT\""));
        assert!(is_next("; title=\"x\"; rel=next"));
        assert!(!is_next("; rel=\"nextish\""));
        assert!(!is_next("; rel=\"first\""));
        assert_eq!(
            links("<a?page=2>; rel=\"next\", <b?page=1>; rel=\"first\""),
            vec![
                ("a?page=2", "; rel=\"next\""),
                ("b?page=1", "; rel=\"first\"")
            ]
        );
        assert_eq!(page_of("https://h/x?a=1&page=7&per_page=100#f"), Some(7));
        assert_eq!(page_of("https://h/x"), None);
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
