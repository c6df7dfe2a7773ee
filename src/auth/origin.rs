//! Which web pages may open a publisher WebSocket: the defence against cross-site WebSocket hijacking
//! (any page a visitor opens could otherwise make their browser publish to this server).
//!
//! Browsers always send `Origin` on a WebSocket handshake. Allowed: this server's own origin (the
//! `--public-url`'s when set, else the host the request reached, so the built-in publisher page always
//! works), and each origin in `--allowed-origins` (`*` allows every page). A handshake without `Origin`
//! comes from a program, not a browser page, and can't be used against a visitor: it is allowed (its
//! rights are the publish token's business). Everything else is refused with 403 before the upgrade.

use super::host::ServerOrigin;

/// What `--allowed-origins` allows besides this server's own origin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedOrigins {
    /// `*` was given: every page may publish.
    pub any: bool,
    /// Origins as `scheme://host[:port]`, lower-case, without a trailing `/`.
    pub listed: Vec<String>,
}

impl AllowedOrigins {
    /// Reads the `--allowed-origins` entries (`*`, or origins such as `https://app.example.com`).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<AllowedOrigins, String> {
        let mut allowed = AllowedOrigins::default();
        for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                allowed.any = true;
            } else {
                let origin = normalise(entry);
                let valid = split_origin(&origin).is_some_and(|(_, host)| super::host::is_valid_host(host));
                if !valid {
                    return Err(format!("{entry:?} is not an origin like https://app.example.com (or *)"));
                }
                allowed.listed.push(origin);
            }
        }
        Ok(allowed)
    }
}

/// Whether a publisher handshake with this `Origin` header may go on. `own` is this server's origin
/// from `--public-url`, else as the request reached it.
pub fn publisher_origin_allowed(origin: Option<&str>, own: Option<&ServerOrigin>, allowed: &AllowedOrigins) -> bool {
    let Some(origin) = origin else { return true };
    if allowed.any {
        return true;
    }
    let origin = normalise(origin);
    if allowed.listed.contains(&origin) {
        return true;
    }
    let (Some(own), Some((scheme, host))) = (own, split_origin(&origin)) else { return false };
    // Browsers leave the default port out of `Origin`; a `Host` header may carry it. The scheme is not
    // compared: behind a TLS proxy that is not trusted, this server sees http while the page is https.
    host == own.host || format!("{host}:{}", default_port(scheme)) == own.host
}

/// `https://App.Example.com/` → `https://app.example.com`.
fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// `scheme://host[:port]` → (`scheme`, `host[:port]`), for http and https only (`null` and other
/// schemes are never this server).
fn split_origin(origin: &str) -> Option<(&str, &str)> {
    let (scheme, host) = origin.split_once("://")?;
    (matches!(scheme, "http" | "https") && !host.contains('/')).then_some((scheme, host))
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(host: &str) -> ServerOrigin {
        ServerOrigin { scheme: "http", host: host.into() }
    }

    #[test]
    fn the_servers_own_origin_and_programs_are_allowed() {
        let none = AllowedOrigins::default();
        let here = own("live.example.com:8080");
        assert!(publisher_origin_allowed(None, Some(&here), &none), "no Origin: not a browser page");
        assert!(publisher_origin_allowed(Some("http://live.example.com:8080"), Some(&here), &none));
        assert!(publisher_origin_allowed(Some("https://LIVE.example.com:8080/"), Some(&here), &none));
        assert!(publisher_origin_allowed(Some("https://live.example.com"), Some(&own("live.example.com:443")), &none));
        assert!(publisher_origin_allowed(Some("http://live.example.com"), Some(&own("live.example.com")), &none));
    }

    #[test]
    fn other_pages_are_refused_unless_listed() {
        let none = AllowedOrigins::default();
        let here = own("live.example.com:8080");
        for origin in ["https://evil.example", "http://live.example.com:8081", "null", "file://", "http://live.example.com.evil:8080", ""] {
            assert!(!publisher_origin_allowed(Some(origin), Some(&here), &none), "{origin}");
        }
        assert!(!publisher_origin_allowed(Some("http://live.example.com:8080"), None, &none));
        let listed = AllowedOrigins::parse(["https://app.example.com/", " https://b.example:9000"]).unwrap();
        assert!(publisher_origin_allowed(Some("https://app.example.com"), Some(&here), &listed));
        assert!(publisher_origin_allowed(Some("https://b.example:9000"), Some(&here), &listed));
        assert!(!publisher_origin_allowed(Some("http://app.example.com"), Some(&here), &listed), "the scheme is part of a listed origin");
        assert!(!publisher_origin_allowed(Some("https://evil.example"), Some(&here), &listed));
        let any = AllowedOrigins::parse(["*"]).unwrap();
        assert!(publisher_origin_allowed(Some("https://evil.example"), Some(&here), &any));
        assert!(publisher_origin_allowed(Some("null"), Some(&here), &any));
    }

    #[test]
    fn allowed_origins_must_be_origins() {
        for bad in ["app.example.com", "ftp://a.example", "https://a.example/path", "https://a b", "null"] {
            assert!(AllowedOrigins::parse([bad]).is_err(), "{bad}");
        }
    }
}
