//! Who may talk to the server, checked before any handler runs (one middleware, [`guard`]):
//!
//! * **Host** (DNS rebinding): the `Host` header must be an IP literal, `localhost`, or a name
//!   in [`ServerConfig::allowed_hosts`]. A page on `evil.example` that re-points its name at
//!   127.0.0.1 still sends `Host: evil.example` and is refused.
//! * **Origin** (cross-site commands): a WebSocket upgrade or any request other than
//!   GET/HEAD/OPTIONS that carries an `Origin` must come from the server's own origin (the
//!   Origin's host equals the `Host`) or from [`ServerConfig::cors_origins`]. `Origin: null`
//!   and browsers' `Sec-Fetch-Site: cross-site` without an Origin are refused too. Clients that
//!   send no Origin (curl, backends, tests) are not browsers and pass.
//! * **Token**: when [`ServerConfig::token`] is set (required for any non-loopback bind, see
//!   [`super::spawn`]), every request but `GET /healthz` must carry it, as
//!   `Authorization: Bearer <token>`, as a WebSocket subprotocol `bearer.<token>` (offer
//!   `automl` beside it; the server selects `automl`), or as the `automl_token` cookie that
//!   opening `/?token=<token>` once sets (HttpOnly, SameSite=Strict) so the browser UI works.
//!   Tokens are compared in constant time and never logged.
//! * **CORS**: closed by default (no `Access-Control-*` headers, so a browser never shows a
//!   cross-origin page any answer); origins in [`ServerConfig::cors_origins`] get them.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::state::{AppState, ServerConfig};

/// The cookie `/?token=` sets for the browser UI.
pub const TOKEN_COOKIE: &str = "automl_token";
/// The WebSocket subprotocol prefix that carries the token (`bearer.<token>`).
pub const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";
/// The subprotocol the server selects on every WebSocket.
pub const WS_PROTOCOL: &str = "automl";

/// A secret: printed as `"***"` by `Debug`, so a logged config never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks a token: at least 16 characters, each a letter, digit, `-`, `_`, `.` or `~`
    /// (so it fits a header, a cookie and a WebSocket subprotocol unchanged).
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        if s.len() < 16 {
            return Err("the token must be at least 16 characters long".to_string());
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        {
            return Err("the token may hold only letters, digits, '-', '_', '.' and '~'".into());
        }
        Ok(Self(s))
    }

    /// True when `candidate` is this token; takes the same time wherever they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate.as_bytes())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Why a request was refused before reaching a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The Host header is not one this server answers to.
    Host,
    /// A cross-origin browser command or socket.
    Origin,
    /// No token, or a wrong one.
    Token,
}

fn refuse(r: Refusal) -> Response {
    let (status, code, message) = match r {
        Refusal::Host => (
            StatusCode::FORBIDDEN,
            "bad_host",
            "this server does not answer to that Host name; add it with --allowed-host",
        ),
        Refusal::Origin => (
            StatusCode::FORBIDDEN,
            "cross_origin",
            "cross-origin requests may not send commands or open sockets; allow the origin with --cors-origin",
        ),
        Refusal::Token => (
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs its token: send Authorization: Bearer <token>, or open /?token=<token> once in a browser",
        ),
    };
    let mut resp = AppError::Refused {
        status,
        code,
        message,
    }
    .into_response();
    if r == Refusal::Token {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The host part of a `Host` value or an origin's authority, lower-cased, without the port.
fn host_part(authority: &str) -> String {
    let a = authority.trim().to_ascii_lowercase();
    if let Some(rest) = a.strip_prefix('[') {
        // [::1]:8000
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match a.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => a,
    }
}

/// An authority with the scheme's default port removed, lower-cased.
fn normalise_authority(authority: &str, scheme: Option<&str>) -> String {
    let a = authority.trim().to_ascii_lowercase();
    let strip = |a: &str, suffix: &str| a.strip_suffix(suffix).map(str::to_string);
    match scheme {
        Some("http") | Some("ws") => strip(&a, ":80").unwrap_or(a),
        Some("https") | Some("wss") => strip(&a, ":443").unwrap_or(a),
        _ => strip(&a, ":80").or_else(|| strip(&a, ":443")).unwrap_or(a),
    }
}

/// True when `host` (a Host header value) names this server.
pub fn host_allowed(cfg: &ServerConfig, host: &str) -> bool {
    let h = host_part(host);
    if h.is_empty() {
        return false;
    }
    h == "localhost"
        || h.parse::<std::net::IpAddr>().is_ok()
        || cfg
            .allowed_hosts
            .iter()
            .any(|a| host_part(a) == h || a.eq_ignore_ascii_case(host))
}

/// True when `origin` may send commands to a server reached as `host`.
pub fn origin_allowed(cfg: &ServerConfig, origin: &str, host: Option<&str>) -> bool {
    let origin = origin.trim();
    if cfg
        .cors_origins
        .iter()
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" and anything that is not an origin
    };
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") || authority.contains('/') {
        return false;
    }
    match host {
        Some(h) => normalise_authority(authority, Some(&scheme)) == normalise_authority(h, None),
        None => false,
    }
}

fn header_str<'a>(h: &'a HeaderMap, name: impl header::AsHeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn is_upgrade(req: &Request) -> bool {
    header_str(req.headers(), header::UPGRADE).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The token the request carries, if any (bearer header, subprotocol, cookie).
fn presented_token(req: &Request) -> Vec<&str> {
    let h = req.headers();
    let mut out = Vec::new();
    if let Some(v) = header_str(h, header::AUTHORIZATION) {
        if let Some((scheme, t)) = v.split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") {
                out.push(t.trim());
            }
        }
    }
    for v in h.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        if let Ok(v) = v.to_str() {
            out.extend(
                v.split(',')
                    .filter_map(|p| p.trim().strip_prefix(TOKEN_PROTOCOL_PREFIX)),
            );
        }
    }
    for v in h.get_all(header::COOKIE) {
        if let Ok(v) = v.to_str() {
            out.extend(v.split(';').filter_map(|c| {
                let (k, val) = c.trim().split_once('=')?;
                (k == TOKEN_COOKIE).then_some(val.trim())
            }));
        }
    }
    out
}

fn query_token(req: &Request) -> Option<&str> {
    req.uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
}

/// The access middleware: Host, Origin, token, CORS (see the module's documentation).
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let cfg = state.config();
    let headers = req.headers();
    let host = header_str(headers, header::HOST);
    match host {
        Some(h) if host_allowed(cfg, h) => {}
        _ => return refuse(Refusal::Host),
    }
    let origin = header_str(headers, header::ORIGIN).map(str::to_string);
    let command =
        is_upgrade(&req) || !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let cors_ok = origin.as_deref().is_some_and(|o| {
        cfg.cors_origins
            .iter()
            .any(|c| c.trim_end_matches('/').eq_ignore_ascii_case(o.trim()))
    });
    if command {
        match origin.as_deref() {
            Some(o) if !origin_allowed(cfg, o, host) => return refuse(Refusal::Origin),
            Some(_) => {}
            None => {
                // A browser that sent no Origin but says the request is cross-site.
                let site = header_str(headers, "sec-fetch-site").unwrap_or("");
                if site.eq_ignore_ascii_case("cross-site") || site.eq_ignore_ascii_case("same-site")
                {
                    return refuse(Refusal::Origin);
                }
            }
        }
    }
    // A CORS preflight from an allowed origin is answered here, before the token (browsers
    // send no credentials with it).
    if req.method() == Method::OPTIONS
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        if !cors_ok {
            return refuse(Refusal::Origin);
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        add_cors(r.headers_mut(), origin.as_deref().unwrap_or(""));
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return r;
    }
    if let Some(token) = &cfg.token {
        let exempt = req.uri().path() == "/healthz";
        let ok = presented_token(&req).iter().any(|t| token.matches(t));
        if !exempt && !ok {
            // `/?token=...` (any page, not the API): check it, set the cookie, and send the
            // browser to the same page without the token in its address.
            let login = req.method() == Method::GET
                && !req.uri().path().starts_with("/api/")
                && !req.uri().path().starts_with("/ws/");
            match query_token(&req) {
                Some(t) if login && token.matches(t) => return login_redirect(&req, t),
                _ => return refuse(Refusal::Token),
            }
        }
    }
    let mut resp = next.run(req).await;
    if cors_ok {
        add_cors(resp.headers_mut(), origin.as_deref().unwrap_or(""));
    }
    resp
}

fn add_cors(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

fn login_redirect(req: &Request, token: &str) -> Response {
    let path = req.uri().path();
    let cookie = format!("{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    if let (Ok(loc), Ok(c)) = (HeaderValue::from_str(path), HeaderValue::from_str(&cookie)) {
        h.insert(header::LOCATION, loc);
        h.insert(header::SET_COOKIE, c);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServerConfig {
        ServerConfig {
            allowed_hosts: vec!["automl.example.com".into()],
            cors_origins: vec!["https://dash.example.org".into()],
            ..ServerConfig::default()
        }
    }

    #[test]
    fn hosts() {
        let c = cfg();
        for ok in [
            "127.0.0.1:8000",
            "localhost:1",
            "[::1]:80",
            "10.0.0.5",
            "automl.example.com",
            "AUTOML.example.com:443",
        ] {
            assert!(host_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "127.0.0.1.evil.example",
            "",
            "localhost.evil",
        ] {
            assert!(!host_allowed(&c, bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        let c = cfg();
        assert!(origin_allowed(
            &c,
            "http://127.0.0.1:8000",
            Some("127.0.0.1:8000")
        ));
        assert!(origin_allowed(
            &c,
            "https://automl.example.com",
            Some("automl.example.com:443")
        ));
        assert!(origin_allowed(
            &c,
            "https://dash.example.org",
            Some("127.0.0.1:8000")
        ));
        assert!(!origin_allowed(
            &c,
            "http://evil.example",
            Some("127.0.0.1:8000")
        ));
        assert!(!origin_allowed(
            &c,
            "http://127.0.0.1:9000",
            Some("127.0.0.1:8000")
        ));
        assert!(!origin_allowed(&c, "null", Some("127.0.0.1:8000")));
        assert!(!origin_allowed(&c, "file://", Some("127.0.0.1:8000")));
    }

    #[test]
    fn tokens() {
        assert!(Token::new("short").is_err());
        assert!(Token::new("has space in it 1234").is_err());
        let t = Token::new("0123456789abcdef-XYZ").expect("token");
        assert!(t.matches("0123456789abcdef-XYZ"));
        assert!(!t.matches("0123456789abcdef-XY"));
        assert!(!t.matches("0123456789abcdef-XYZ0"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"b"));
    }
}
