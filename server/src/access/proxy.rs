//! Who the client is when Cairn runs behind a reverse proxy (`--trusted-proxies`).
//!
//! Only a request whose TCP peer is one of the trusted proxies has its
//! `X-Forwarded-For` and `X-Forwarded-Proto` believed. The client is then the nearest
//! address in `X-Forwarded-For` that is not itself a trusted proxy (read from the
//! right: each proxy appends the address it saw, and whatever a client wrote itself is
//! further left). That address drives the sign-in throttle and the audit log; a request
//! the proxy says came over HTTPS gets its cookies marked `Secure`.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

#[derive(Debug, thiserror::Error)]
#[error("--trusted-proxies: {0:?} is not an address or CIDR range (e.g. 10.0.0.0/8, 127.0.0.1, ::1)")]
pub struct BadProxy(String);

impl TrustedProxies {
    /// `10.0.0.0/8,127.0.0.1,::1`: ranges or single addresses, comma-separated.
    pub fn parse(list: &str) -> Result<TrustedProxies, BadProxy> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| BadProxy(item.to_owned()))?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(Arc::new(nets)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client behind `peer`, and whether it reached the proxy over HTTPS.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return Client { ip: peer, https: false, via_proxy: false };
        }
        let mut ip = peer;
        // Walked from the right: each proxy appends the address it saw.
        for hop in list(headers, "x-forwarded-for").rev() {
            match parse_hop(hop) {
                Some(addr) => {
                    ip = addr;
                    if !self.trusts(addr) {
                        break;
                    }
                }
                None => {
                    // Past a hop that is not an address, nothing is known: keep the
                    // last address a trusted proxy gave.
                    tracing::debug!(hop, "an X-Forwarded-For entry is not an address");
                    break;
                }
            }
        }
        // The proxy that reached us sets the scheme it was reached by; with several
        // values, the last one is the nearest proxy's.
        let https = list(headers, "x-forwarded-proto")
            .next_back()
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        Client { ip, https, via_proxy: true }
    }
}

/// The values of every `name` header, in order, as one comma-separated list.
fn list<'h>(headers: &'h HeaderMap, name: &str) -> impl DoubleEndedIterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// An IPv4 address mapped into IPv6 (a dual-stack listener's view) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// `192.0.2.1`, `2001:db8::1`, and the forms with a port some proxies write
/// (`192.0.2.1:5000`, `[2001:db8::1]:5000`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// The client of a request, as [`client_address`] worked it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pub ip: IpAddr,
    /// The proxy says the client reached it over HTTPS.
    pub https: bool,
    /// The TCP peer was a trusted proxy.
    pub via_proxy: bool,
}

/// Works out the client of every request (attached as [`Client`]), and marks the
/// cookies `Secure` on responses to requests a trusted proxy received over HTTPS.
pub async fn client_address(
    State(proxies): State<TrustedProxies>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = peer.map(|p| proxies.client(p, req.headers()));
    if let Some(c) = client {
        req.extensions_mut().insert(c);
    }
    let mut res = next.run(req).await;
    if client.is_some_and(|c| c.https) {
        secure_cookies(res.headers_mut());
    }
    res
}

/// Adds `Secure` to every cookie set by the response that lacks it.
fn secure_cookies(headers: &mut HeaderMap) {
    let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for c in cookies {
        let already = c.to_str().is_ok_and(|s| {
            s.split(';')
                .skip(1)
                .any(|a| a.trim().eq_ignore_ascii_case("secure"))
        });
        let value = if already {
            c
        } else {
            let mut bytes = c.as_bytes().to_vec();
            bytes.extend_from_slice(b"; Secure");
            HeaderValue::from_bytes(&bytes).unwrap_or(c)
        };
        headers.append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let t = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1,::1").expect("parse");
        let h = headers(&[("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")]);
        // From a stranger: its own address, plain HTTP, whatever it claims.
        assert_eq!(
            t.client(ip("203.0.113.9"), &h),
            Client { ip: ip("203.0.113.9"), https: false, via_proxy: false }
        );
        // From the proxy: the address it saw, HTTPS.
        assert_eq!(
            t.client(ip("127.0.0.1"), &h),
            Client { ip: ip("198.51.100.7"), https: true, via_proxy: true }
        );
        // A dual-stack listener's view of the IPv4 proxy.
        assert_eq!(t.client(ip("::ffff:127.0.0.1"), &h).ip, ip("198.51.100.7"));
        // No header from the proxy: the proxy itself.
        assert_eq!(t.client(ip("::1"), &HeaderMap::new()).ip, ip("::1"));
    }

    #[test]
    fn a_client_cannot_choose_its_address_by_writing_the_header_itself() {
        let t = TrustedProxies::parse("10.0.0.0/8").expect("parse");
        // The client wrote "1.2.3.4"; the outer proxy 10.1.1.1 appended what it saw; the
        // inner proxy appended 10.1.1.1.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(t.client(ip("10.2.2.2"), &h).ip, ip("198.51.100.7"));
        // Two header lines are one list.
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "198.51.100.7:4431")]);
        assert_eq!(t.client(ip("10.2.2.2"), &h).ip, ip("198.51.100.7"));
        // Garbage nearest the proxy: the proxy's own address, never what lies beyond.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, <script>")]);
        assert_eq!(t.client(ip("10.2.2.2"), &h).ip, ip("10.2.2.2"));
        // Only trusted hops: the furthest one.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(t.client(ip("10.2.2.2"), &h).ip, ip("10.9.9.9"));
        // The nearest proxy's scheme counts.
        let h = headers(&[("x-forwarded-proto", "https, http")]);
        assert!(!t.client(ip("10.2.2.2"), &h).https);
    }

    #[test]
    fn bad_ranges_are_refused_by_name() {
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
        let e = TrustedProxies::parse("10.0.0.0/8,proxy.local").expect_err("refused");
        assert!(e.to_string().contains("proxy.local"), "{e}");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        // Host bits in a range are dropped, not refused.
        assert!(TrustedProxies::parse("10.1.2.3/8").expect("parse").trusts(ip("10.200.0.1")));
    }

    #[test]
    fn cookies_become_secure_once() {
        let mut h = HeaderMap::new();
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=1; HttpOnly; Path=/"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=2; Secure"));
        secure_cookies(&mut h);
        let v: Vec<&str> = h.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().expect("ascii")).collect();
        assert_eq!(v, vec!["a=1; HttpOnly; Path=/; Secure", "b=2; Secure"]);
    }
}
