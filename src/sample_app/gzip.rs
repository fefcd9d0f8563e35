//! Compressed answers, as nginx's `gzip on` gives them: a text response of at least
//! [`MIN_LENGTH`] bytes to a client that accepts gzip is sent gzip-encoded, so the native
//! engine's decoding (and Locust's) meets the real thing.

use std::io::Write;

use axum::{
    body::{to_bytes, Body},
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

/// Smaller answers gain nothing from compression (nginx's `gzip_min_length` is 20; most sites
/// set a few hundred).
const MIN_LENGTH: usize = 256;
/// The largest answer this app compresses; its answers are far smaller.
const MAX_LENGTH: usize = 8 << 20;

pub(crate) async fn layer(req: Request, next: Next) -> Response {
    let accepts = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let response = next.run(req).await;
    if !accepts || !compressible(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_LENGTH).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if bytes.len() < MIN_LENGTH {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let Ok(gz) = encoder.write_all(&bytes).and_then(|()| encoder.finish()) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Response::from_parts(parts, Body::from(gz))
}

/// Text answers (JSON, HTML, plain) not already encoded.
fn compressible(response: &Response) -> bool {
    let headers = response.headers();
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/"))
}
