//! What a request says about where it was sent and who sent it, believed only as far as configured.
//!
//! `Host` (or the HTTP/2 authority) names the host the client reached; it is used only when it is a
//! host (a name, an IPv4 address or a bracketed IPv6 address, with an optional port), otherwise the
//! local address of the connection is used instead. `Forwarded` and `X-Forwarded-*` are read only with
//! `--trust-forwarded` (set it when livedash runs behind a proxy that writes them): without it any client
//! could claim any host, scheme or address. Pure functions over [`RequestFacts`], so every rule is
//! tested without a server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest host name DNS allows.
const MAX_HOST_NAME: usize = 253;

/// The parts of a request this module reads.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    /// The `Host` header, or the URI's authority (HTTP/2).
    pub host: Option<&'a str>,
    /// The `Forwarded` header (RFC 7239).
    pub forwarded: Option<&'a str>,
    pub x_forwarded_host: Option<&'a str>,
    pub x_forwarded_proto: Option<&'a str>,
    pub x_forwarded_for: Option<&'a str>,
    /// The TCP peer.
    pub peer: Option<SocketAddr>,
    /// Where the TCP connection arrived: the fallback host.
    pub local: Option<SocketAddr>,
}

/// `scheme://host[:port]` of this server as the client reached it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOrigin {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// A validated `host[:port]`.
    pub host: String,
}

impl std::fmt::Display for ServerOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)
    }
}

impl ServerOrigin {
    /// The origin of a base URL such as `--public-url` (`https://live.example.com/base` →
    /// `https://live.example.com`); `None` when it has no valid host.
    pub fn of_url(url: &str) -> Option<ServerOrigin> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let host = rest.split(['/', '?', '#']).next()?;
        is_valid_host(host).then(|| ServerOrigin { scheme, host: host.to_ascii_lowercase() })
    }
}

/// This server's origin as the request reached it. livedash itself speaks plain HTTP, so the scheme is
/// `http` unless a trusted proxy says otherwise; a host that is not a host falls back to the local
/// address of the connection (`None` only when that is unknown too).
pub fn server_origin(facts: &RequestFacts, trust_forwarded: bool) -> Option<ServerOrigin> {
    let (claimed_host, claimed_proto) = if trust_forwarded {
        let element = facts.forwarded.and_then(|f| f.split(',').next()).unwrap_or("");
        let host = forwarded_parameter(element, "host").or_else(|| first_of_list(facts.x_forwarded_host)).or(facts.host);
        let proto = forwarded_parameter(element, "proto").or_else(|| first_of_list(facts.x_forwarded_proto));
        (host, proto)
    } else {
        (facts.host, None)
    };
    let scheme = match claimed_proto {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let host = match claimed_host.filter(|h| is_valid_host(h)) {
        Some(host) => host.to_ascii_lowercase(),
        None => facts.local?.to_string(),
    };
    Some(ServerOrigin { scheme, host })
}

/// The client's address: the TCP peer, or with `--trust-forwarded` the address the nearest proxy saw
/// (the last `for=` of `Forwarded`, else the last `X-Forwarded-For` entry; earlier entries are written
/// by whoever sent the request and prove nothing).
pub fn client_address(facts: &RequestFacts, trust_forwarded: bool) -> Option<IpAddr> {
    let peer = facts.peer.map(|p| p.ip());
    if !trust_forwarded {
        return peer;
    }
    let from_forwarded = facts.forwarded.and_then(|f| f.rsplit(',').next()).and_then(|e| forwarded_parameter(e, "for"));
    let from_x = facts.x_forwarded_for.and_then(|f| f.rsplit(',').next()).map(str::trim);
    from_forwarded.or(from_x).and_then(parse_node).or(peer)
}

/// A `Forwarded` node (`192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:80`, `2001:db8::1`) as an address.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    node.parse::<IpAddr>().ok().or_else(|| node.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// One parameter of a `Forwarded` element (`for=...;proto=https;host="a.example"`), unquoted.
fn forwarded_parameter<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().trim_matches('"'))
    })
}

fn first_of_list(header: Option<&str>) -> Option<&str> {
    header.and_then(|h| h.split(',').next()).map(str::trim)
}

/// True for `name`, `name:port`, `192.0.2.1[:port]` and `[2001:db8::1][:port]`; a name is DNS labels of
/// letters, digits, `-` and `_` (container service names use it). Nothing else, so a valid host is
/// safe to write into a URL, a manifest or a log line.
pub fn is_valid_host(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else { return false };
        return address.parse::<Ipv6Addr>().is_ok() && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    port.is_none_or(is_port) && (name.parse::<Ipv4Addr>().is_ok() || is_host_name(name))
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOST_NAME
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Option<SocketAddr> {
        Some("10.0.0.5:8080".parse().unwrap())
    }

    #[test]
    fn hosts_are_hosts() {
        for good in ["localhost", "localhost:8080", "live.example.com", "my_service:80", "192.0.2.1", "192.0.2.1:65535", "[::1]", "[2001:db8::1]:8080"] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in [
            "", ":80", "a:", "a:65536", "a:8o", "a b", "a/b", "evil\"/><BaseURL>x</BaseURL><x a=\"", "a&b", "a'b", "a<b",
            "[::1", "[::1]x", "[nothex]", "-a.com", "a-.com", "a..com", "a.com:80:80", "user@host", "a%2fb",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
        assert!(!is_valid_host(&"a".repeat(64)));
        assert!(!is_valid_host(&["abc"; 70].join(".")));
    }

    #[test]
    fn the_host_header_is_used_only_when_it_is_a_host() {
        let facts = RequestFacts { host: Some("Live.Example.com:8080"), local: local(), ..Default::default() };
        assert_eq!(server_origin(&facts, false).unwrap().to_string(), "http://live.example.com:8080");
        let hostile = RequestFacts { host: Some("x\"/><BaseURL>http://evil/</BaseURL>"), local: local(), ..Default::default() };
        assert_eq!(server_origin(&hostile, false).unwrap().to_string(), "http://10.0.0.5:8080");
        let none = RequestFacts { local: local(), ..Default::default() };
        assert_eq!(server_origin(&none, false).unwrap().to_string(), "http://10.0.0.5:8080");
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let facts = RequestFacts {
            host: Some("origin.internal:8080"),
            forwarded: Some("for=192.0.2.60;proto=https;host=\"live.example.com\", for=10.1.1.1"),
            x_forwarded_host: Some("other.example.com"),
            x_forwarded_for: Some("203.0.113.9, 198.51.100.7"),
            peer: Some("10.0.0.9:5555".parse().unwrap()),
            local: local(),
            ..Default::default()
        };
        assert_eq!(server_origin(&facts, false).unwrap().to_string(), "http://origin.internal:8080");
        assert_eq!(server_origin(&facts, true).unwrap().to_string(), "https://live.example.com");
        assert_eq!(client_address(&facts, false), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(client_address(&facts, true), Some("10.1.1.1".parse().unwrap()), "the nearest proxy's element");

        let x_only = RequestFacts { forwarded: None, x_forwarded_proto: Some("https, http"), ..facts.clone() };
        assert_eq!(server_origin(&x_only, true).unwrap().to_string(), "https://other.example.com");
        assert_eq!(client_address(&x_only, true), Some("198.51.100.7".parse().unwrap()), "the last X-Forwarded-For entry");

        let hostile = RequestFacts { forwarded: Some("host=\"a\\\"><x/>\""), ..facts.clone() };
        assert_eq!(server_origin(&hostile, true).unwrap().host, "10.0.0.5:8080");
        let garbage_for = RequestFacts { forwarded: Some("for=unknown"), x_forwarded_for: None, ..facts.clone() };
        assert_eq!(client_address(&garbage_for, true), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(ServerOrigin::of_url("https://Live.example.com:8443/base/").unwrap().to_string(), "https://live.example.com:8443");
        assert_eq!(ServerOrigin::of_url("ftp://a.example"), None);
        let v6 = RequestFacts { forwarded: Some("for=\"[2001:db8::1]:4711\""), ..facts };
        assert_eq!(client_address(&v6, true), Some("2001:db8::1".parse().unwrap()));
    }
}
