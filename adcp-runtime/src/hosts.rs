//! Which `Host` and `Origin` a request may name: the defence against DNS rebinding. A page on
//! `rebind.attacker.example` whose name is re-pointed at 127.0.0.1 reaches a local agent with
//! its own name in `Host` (and `Origin`); the agent serves only the names it is known by.

use axum::http::{HeaderMap, StatusCode, Uri, header};

use crate::error::AdcpError;

/// The names an agent answers to: loopback names (always: a rebinding page cannot send
/// them), the host of its public URL, and the extra hosts its operator configured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// The public URL's host and each of `extra` (names, optionally with a port).
    pub(crate) fn new(public_url: Option<&str>, extra: &[String]) -> Hosts {
        let mut names: Vec<String> = extra.iter().filter_map(|h| name_of(h)).collect();
        if let Some(h) = public_url
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().and_then(name_of))
        {
            names.push(h);
        }
        Hosts { names }
    }

    fn allows(&self, name: &str) -> bool {
        is_loopback(name) || self.names.iter().any(|n| n == name)
    }

    /// Refuses a request whose `Host` (or HTTP/2 authority) or browser `Origin` names another
    /// site: 421 for the host, 403 for the origin. A request without either is let through
    /// (a browser always sends `Host`).
    pub(crate) fn check(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Result<(), (StatusCode, AdcpError)> {
        // An absolute-form target names the host itself (RFC 9112 §3.2.2); else `Host`, which
        // must then be readable.
        let host = match (uri.authority(), headers.get(header::HOST)) {
            (Some(a), _) => Some(a.as_str()),
            (None, Some(h)) => Some(h.to_str().unwrap_or("\u{fffd}")),
            (None, None) => None,
        };
        if let Some(host) = host
            && !name_of(host).is_some_and(|n| self.allows(&n))
        {
            let e = AdcpError::invalid_request(
                "Host",
                format!(
                    "this agent is not served as `{host}`; an operator adds its public names with \
                     --public-url or --allowed-host"
                ),
            );
            return Err((StatusCode::MISDIRECTED_REQUEST, e));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let text = origin.to_str().unwrap_or("");
            let name = url::Url::parse(text)
                .ok()
                .and_then(|u| u.host_str().and_then(name_of));
            if !name.is_some_and(|n| self.allows(&n)) {
                let e = AdcpError::invalid_request(
                    "Origin",
                    format!("requests from the origin `{text}` are not served"),
                );
                return Err((StatusCode::FORBIDDEN, e));
            }
        }
        Ok(())
    }
}

/// A host's name without its port, lowercase, without a trailing dot; IPv6 in brackets.
/// `None` when it is not an authority (`[::1]junk`, user info, a path).
fn name_of(authority: &str) -> Option<String> {
    let a: axum::http::uri::Authority = authority.trim().parse().ok()?;
    // Nothing but the host and a numeric port (the parser lets more through).
    let rest = a.as_str().strip_prefix(a.host())?;
    let port_only = rest.is_empty()
        || rest
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !port_only || a.host().is_empty() {
        return None;
    }
    Some(a.host().trim_end_matches('.').to_ascii_lowercase())
}

fn is_loopback(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_and_configured_names_pass_and_others_are_refused() {
        let hosts = Hosts::new(
            Some("https://Seller.Example/"),
            &["alt.example:8443".into()],
        );
        let uri = Uri::from_static("/mcp");
        for ok in [
            "127.0.0.1:3000",
            "localhost",
            "[::1]:80",
            "seller.example",
            "SELLER.example.:443",
            "alt.example",
        ] {
            assert!(hosts.check(&uri, &headers(&[("host", ok)])).is_ok(), "{ok}");
        }
        for bad in [
            "rebind.attacker.example",
            "seller.example.attacker.example",
            "10.0.0.5:3000",
        ] {
            let (status, e) = hosts.check(&uri, &headers(&[("host", bad)])).unwrap_err();
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
            assert_eq!(e.field(), Some("Host"));
        }
        let forged = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://rebind.attacker.example"),
        ]);
        let (status, e) = hosts.check(&uri, &forged).unwrap_err();
        assert_eq!((status, e.field()), (StatusCode::FORBIDDEN, Some("Origin")));
        for odd in ["[::1]junk", "user@localhost", "localhost/x"] {
            assert!(
                hosts.check(&uri, &headers(&[("host", odd)])).is_err(),
                "{odd}"
            );
        }
        let absolute = Uri::from_static("http://rebind.attacker.example/mcp");
        assert!(
            hosts
                .check(&absolute, &headers(&[("host", "localhost")]))
                .is_err()
        );
        let null = headers(&[("host", "localhost"), ("origin", "null")]);
        assert!(hosts.check(&uri, &null).is_err());
        let same = headers(&[
            ("host", "seller.example"),
            ("origin", "https://seller.example"),
        ]);
        assert!(hosts.check(&uri, &same).is_ok());
        assert!(hosts.check(&uri, &HeaderMap::new()).is_ok());
    }
}
