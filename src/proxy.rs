//! The forward proxy the native engine goes through, chosen once per run from `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (upper or lower case, as curl and reqwest read them;
//! `NO_PROXY` takes domains with their subdomains, IP addresses, CIDR ranges and `*`). The load
//! goes to one host, so the choice is made before any request: nothing of it is on the hot path.
//! A leaf: the settings choose, the engine only connects.

use crate::secret::Secret;

/// A forward proxy for the target. Its credentials, when the URL carries them, are a
/// secret: they go only into `Proxy-Authorization`, never into a message.
#[derive(Debug, Clone)]
pub struct Proxy {
    /// The proxy's host name or address (an IPv6 address without brackets).
    pub(crate) host: String,
    /// The proxy's port.
    pub(crate) port: u16,
    /// `Basic ...` from the URL's user and password.
    pub(crate) authorization: Option<Secret>,
}

impl Proxy {
    /// `http://host:port`, without credentials: what logs and messages may show.
    pub(crate) fn display(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

/// Why the proxy variables cannot be used; names the variable, never the credentials.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A proxy URL whose scheme this client cannot speak (TLS to the proxy, SOCKS).
    #[error("{variable} names a {scheme}:// proxy; only http:// proxies are supported (or pass --no-proxy)")]
    Scheme {
        /// `HTTP_PROXY` or `HTTPS_PROXY`.
        variable: &'static str,
        /// The scheme found.
        scheme: String,
    },
    /// A proxy URL without a host.
    #[error("{variable} has no host (or pass --no-proxy)")]
    NoHost {
        /// `HTTP_PROXY` or `HTTPS_PROXY`.
        variable: &'static str,
    },
}

/// The proxy for requests to `target`, from the variables `env` reads; `None` when none is set
/// or `NO_PROXY` exempts the target's host.
pub(crate) fn for_target(
    target: &url::Url,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ProxyError> {
    let first = |names: [&str; 2]| names.iter().find_map(|n| env(n)).unwrap_or_default();
    let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
        .all(first(["ALL_PROXY", "all_proxy"]))
        .http(first(["HTTP_PROXY", "http_proxy"]))
        .https(first(["HTTPS_PROXY", "https_proxy"]))
        .no(first(["NO_PROXY", "no_proxy"]))
        .build();
    let Ok(uri) = target.as_str().parse::<http::Uri>() else {
        return Ok(None);
    };
    let Some(intercept) = matcher.intercept(&uri) else {
        return Ok(None);
    };
    let variable = if target.scheme() == "https" {
        "HTTPS_PROXY"
    } else {
        "HTTP_PROXY"
    };
    let proxy = intercept.uri();
    match proxy.scheme_str() {
        Some("http") | None => {}
        Some(other) => {
            return Err(ProxyError::Scheme {
                variable,
                scheme: other.to_string(),
            })
        }
    }
    let host = proxy
        .host()
        .ok_or(ProxyError::NoHost { variable })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let authorization = intercept
        .basic_auth()
        .and_then(|v| v.to_str().ok())
        .map(|v| Secret::new(v.to_string()));
    Ok(Some(Proxy {
        host,
        port: proxy.port_u16().unwrap_or(80),
        authorization,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn the_scheme_picks_the_variable_and_no_proxy_exempts() {
        let e = env(&[
            ("HTTP_PROXY", "http://plain:3128"),
            ("https_proxy", "http://user:pa%3Ass@tunnel:8080"),
            ("NO_PROXY", "internal.example, 10.0.0.0/8"),
        ]);
        let p = for_target(&url("http://api.example.com/"), &e)
            .unwrap()
            .unwrap();
        assert_eq!((p.host.as_str(), p.port), ("plain", 3128));
        assert!(p.authorization.is_none());
        let p = for_target(&url("https://api.example.com/"), &e)
            .unwrap()
            .unwrap();
        assert_eq!(p.display(), "http://tunnel:8080");
        assert!(p.authorization.is_some());
        assert!(
            !format!("{p:?}").contains("pa"),
            "credentials hidden: {p:?}"
        );
        assert!(for_target(&url("https://a.internal.example/"), &e)
            .unwrap()
            .is_none());
        assert!(for_target(&url("http://10.1.2.3/"), &e).unwrap().is_none());
        assert!(for_target(&url("http://h/"), &env(&[])).unwrap().is_none());
    }

    #[test]
    fn a_proxy_this_client_cannot_speak_is_refused() {
        let e = env(&[("HTTPS_PROXY", "socks5://s:1080")]);
        let err = for_target(&url("https://h/"), &e).unwrap_err();
        assert!(err
            .to_string()
            .contains("HTTPS_PROXY names a socks5:// proxy"));
    }
}
