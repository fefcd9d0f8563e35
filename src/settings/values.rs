//! Reading one setting's value: durations, whole seconds, http(s) URLs, each refused with the
//! setting's name and the fix. Shared by the load settings ([`super::load`]) and the engines'
//! ([`super::engines`]), which import this rather than each other.

use std::time::Duration;

use url::Url;

use super::{invalid, SettingsError};
use crate::{duration::parse_duration, secret::redact_userinfo};

/// A duration setting, parsed; `None` when not given.
pub(crate) fn duration(
    text: &Option<String>,
    setting: &'static str,
) -> Result<Option<Duration>, SettingsError> {
    text.as_ref()
        .map(|t| parse_duration(t).map_err(|e| invalid(setting, e)))
        .transpose()
}

/// A whole number of seconds from a flag, refused beyond [`crate::duration::MAX_DURATION`].
pub(crate) fn whole_seconds(
    value: Option<u64>,
    setting: &'static str,
) -> Result<Option<Duration>, SettingsError> {
    match value {
        Some(s) if s > crate::duration::MAX_DURATION.as_secs() => Err(invalid(
            setting,
            format!("{s} seconds is longer than a year; give a shorter time"),
        )),
        other => Ok(other.map(Duration::from_secs)),
    }
}

/// An absolute http(s) URL with a host part and no credentials, for `setting`; every message
/// shows the URL redacted ([`redact_userinfo`]), suggests `example` and, for credentials,
/// says why they are refused (`credentials`).
pub(crate) fn parse_http_url(
    text: &str,
    setting: &'static str,
    example: &str,
    credentials: &str,
) -> Result<Url, SettingsError> {
    let shown = redact_userinfo(text);
    let url = Url::parse(text.trim()).map_err(|e| {
        invalid(
            setting,
            format!("`{shown}` is not a URL ({e}); pass e.g. {setting} {example}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            setting,
            format!("`{shown}` must be an http:// or https:// URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            setting,
            format!("`{shown}` carries credentials, {credentials}"),
        ));
    }
    Ok(url)
}
