//! `@target-uri` and `@authority` as the AdCP profile canonicalises them: the WHATWG parse
//! (lowercase scheme and host, IDN to A-labels, default port dropped, dot segments removed,
//! empty path to `/`, fragment dropped), then percent-escapes of unreserved characters decoded
//! and every other escape's hex uppercased. Userinfo is dropped; an authority that is empty,
//! a bare IPv6 address, an IPv6 zone or a host with more than one trailing dot is malformed.

use url::Url;

/// The canonical target URI and authority of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canonical {
    /// `@target-uri`.
    pub target_uri: String,
    /// `@authority`: `host[:port]`.
    pub authority: String,
}

/// Why a URL has no canonical form (`request_target_uri_malformed`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the target URI is malformed: {0}")]
pub struct Malformed(pub &'static str);

/// The raw authority of an absolute URL: between `//` and the next `/`, `?` or `#`.
fn raw_authority(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Canonicalises `url` (absolute, `http` or `https`).
pub fn canonicalize(url: &str) -> Result<Canonical, Malformed> {
    let authority = raw_authority(url).ok_or(Malformed("not an absolute URL"))?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(Malformed("the authority has no host"));
    }
    if let Some(v6) = host_port.strip_prefix('[') {
        let Some((inside, _)) = v6.split_once(']') else {
            return Err(Malformed("an IPv6 host misses its closing bracket"));
        };
        if inside.contains('%') {
            return Err(Malformed("IPv6 zone identifiers are not allowed"));
        }
    } else if host_port.matches(':').count() > 1 {
        return Err(Malformed("an IPv6 host must be in brackets"));
    }
    let host_only = if host_port.starts_with('[') {
        host_port
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    if host_only.ends_with("..") {
        return Err(Malformed("the host has more than one trailing dot"));
    }
    let mut parsed = Url::parse(url).map_err(|_| Malformed("the URL does not parse"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Malformed("only http and https URLs are signed"));
    }
    let host = match parsed.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => return Err(Malformed("the authority has no host")),
    };
    if let Some(stripped) = host.strip_suffix('.') {
        parsed
            .set_host(Some(stripped))
            .map_err(|_| Malformed("the host does not parse"))?;
    }
    let host = parsed.host_str().unwrap_or_default();
    let authority = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut target = format!("{}://{authority}{}", parsed.scheme(), parsed.path());
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok(Canonical {
        target_uri: normalize_escapes(&target),
        authority,
    })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` of unreserved characters; uppercases the hex of the others.
fn normalize_escapes(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let b = h * 16 + l;
            if is_unreserved(b) {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push(char::from(bytes[i + 1].to_ascii_uppercase()));
                out.push(char::from(bytes[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // The WHATWG serialisation is ASCII, so bytes are chars.
        out.push(char::from(bytes[i]));
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(url: &str) -> (String, String) {
        let c = canonicalize(url).unwrap();
        (c.target_uri, c.authority)
    }

    #[test]
    fn applies_each_rule() {
        let cases = [
            (
                "HTTPS://Seller.Example.COM:443/a/./b/../c",
                "https://seller.example.com/a/c",
                "seller.example.com",
            ),
            (
                "http://seller.example.com:80/p",
                "http://seller.example.com/p",
                "seller.example.com",
            ),
            (
                "https://seller.example.com:8443/p",
                "https://seller.example.com:8443/p",
                "seller.example.com:8443",
            ),
            (
                "https://bücher.example/p",
                "https://xn--bcher-kva.example/p",
                "xn--bcher-kva.example",
            ),
            (
                "https://[2001:DB8::1]:443/p",
                "https://[2001:db8::1]/p",
                "[2001:db8::1]",
            ),
            (
                "https://user:pass@seller.example.com/p#frag",
                "https://seller.example.com/p",
                "seller.example.com",
            ),
            (
                "https://seller.example.com/a//b",
                "https://seller.example.com/a//b",
                "seller.example.com",
            ),
            (
                "https://seller.example.com?x=1",
                "https://seller.example.com/?x=1",
                "seller.example.com",
            ),
            (
                "https://seller.example.com/%7efoo/%41/path%2fhere?b=2&a=1+c",
                "https://seller.example.com/~foo/A/path%2Fhere?b=2&a=1+c",
                "seller.example.com",
            ),
            (
                "https://example.com./p?",
                "https://example.com/p?",
                "example.com",
            ),
        ];
        for (input, target, authority) in cases {
            assert_eq!(
                canon(input),
                (target.to_owned(), authority.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_authorities() {
        for bad in [
            "https://:443/p",
            "https://user@/p",
            "https:///p",
            "https://[::1/p",
            "https://fe80::1/p",
            "https://[fe80::1%25eth0]/p",
            "https://example.com../p",
            "ftp://example.com/p",
        ] {
            assert!(canonicalize(bad).is_err(), "{bad}");
        }
    }
}
