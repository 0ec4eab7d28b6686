//! The SSRF guard for outbound webhooks. A buyer names the URL, so it must not be able to make
//! this agent call its own network: destinations that are private, loopback, link-local,
//! multicast, reserved or cloud metadata (IPv4-mapped IPv6 included) are refused. The name is
//! resolved once and the connection goes to the address that was checked (the client's resolver
//! returns only vetted addresses, while the URL's host still drives SNI and `Host`); redirects
//! are not followed and no proxy from the environment is used. Literal-IP URLs skip name
//! resolution, so they are checked before sending. Loopback and private receivers can be
//! allowed explicitly (test mode).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a destination is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a URL.
    #[error("`{0}` is not a URL")]
    NotAUrl(String),
    /// Not http(s), or http where https is required.
    #[error("scheme `{0}` is not allowed")]
    Scheme(String),
    /// `user:pass@` in the URL.
    #[error("credentials in the URL are not allowed")]
    Userinfo,
    /// The address is in a forbidden range.
    #[error("{0} is not a public address")]
    Address(IpAddr),
    /// No public address for the name.
    #[error("`{0}` resolves to no public address")]
    NoPublicAddress(String),
}

/// Whether an address may be the destination of a webhook.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || o[0] == 0 // 0/8
        || (o[0] == 100 && (64..=127).contains(&o[1])) // 100.64/10, shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24, protocol assignments
        || (o[0] == 198 && (18..=19).contains(&o[1])) // 198.18/15, benchmarking
        || o[0] >= 240) // 240/4, reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link local
        || (s[0] == 0x64 && s[1] == 0xff9b) // 64:ff9b::/96, NAT64
        || s[0] == 0x2002 // 2002::/16, 6to4
        || (s[0] == 0x2001 && s[1] == 0) // 2001::/32, Teredo
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4))) // ::a.b.c.d compatible
}

/// The destination policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Allow loopback, private and plain-http destinations (test mode only).
    pub allow_private: bool,
}

impl Policy {
    fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks a URL before any connection: scheme, credentials, and literal IPs.
    pub(crate) fn check_url(self, url: &str) -> Result<reqwest::Url, Refused> {
        let u = reqwest::Url::parse(url).map_err(|_| Refused::NotAUrl(url.to_owned()))?;
        match u.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            other => return Err(Refused::Scheme(other.to_owned())),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(Refused::Userinfo);
        }
        let literal = match u.host() {
            Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(Refused::NotAUrl(url.to_owned())),
        };
        if let Some(ip) = literal
            && !self.allows(ip)
        {
            return Err(Refused::Address(ip));
        }
        Ok(u)
    }
}

/// A resolver that resolves once and hands the client only the addresses the policy allows.
struct GuardedResolver {
    policy: Policy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused::NoPublicAddress(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let it: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(it)
        })
    }
}

/// The HTTP client for webhooks under a policy: guarded resolution, no redirects, no proxy,
/// bounded time.
pub(crate) fn client(policy: Policy) -> reqwest::Client {
    crate::tls::install_provider();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("adcp-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_ranges() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002::1",
            "2001::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad} is not public");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good} is public");
        }
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let strict = Policy {
            allow_private: false,
        };
        assert_eq!(
            strict.check_url("http://buyer.example/h").unwrap_err(),
            Refused::Scheme("http".into())
        );
        assert_eq!(
            strict.check_url("https://127.0.0.1/h").unwrap_err(),
            Refused::Address("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            strict
                .check_url("https://[::ffff:169.254.169.254]/latest")
                .unwrap_err(),
            Refused::Address("::ffff:169.254.169.254".parse().unwrap())
        );
        assert_eq!(
            strict.check_url("https://u:p@buyer.example/h").unwrap_err(),
            Refused::Userinfo
        );
        assert!(strict.check_url("https://buyer.example/h").is_ok());
        let test = Policy {
            allow_private: true,
        };
        assert!(test.check_url("http://127.0.0.1:9000/step/x").is_ok());
    }

    #[tokio::test]
    async fn a_name_for_a_private_address_does_not_connect() {
        let c = client(Policy {
            allow_private: false,
        });
        let err = c.get("http://localhost:9/").send().await.unwrap_err();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut refused = None;
        while let Some(e) = source {
            refused = refused.or(e.downcast_ref::<Refused>());
            source = e.source();
        }
        assert!(
            matches!(refused, Some(Refused::NoPublicAddress(h)) if h == "localhost"),
            "{err:?}"
        );
    }
}
