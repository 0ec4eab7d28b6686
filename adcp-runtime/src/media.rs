//! Media types as HTTP compares them: case-insensitive, parameters aside, and `Accept` ranges
//! with their q-values (RFC 9110 §8.3.1, §12.5.1).

/// Whether a `Content-Type` is JSON (`application/json`, any case, any parameters). Of a
/// field sent with several values the first decides here; request signing refuses such a
/// field when it is signed.
pub(crate) fn is_json(content_type: &str) -> bool {
    let first = content_type.split(',').next().unwrap_or("");
    essence(first).eq_ignore_ascii_case("application/json")
}

fn essence(media: &str) -> &str {
    media.split(';').next().unwrap_or("").trim()
}

/// The q-value `accept` gives `media` (a `type/subtype`, lowercase): that of its most
/// specific matching range (`type/subtype`, then `type/*`, then `*/*`); 0 when none matches.
/// An absent or empty `Accept` accepts everything.
pub(crate) fn quality(accept: Option<&str>, media: &str) -> f32 {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return 1.0;
    };
    let family = media.split('/').next().unwrap_or("");
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let name = essence(range).to_ascii_lowercase();
        let specificity = if name == media {
            3
        } else if name.strip_suffix("/*") == Some(family) {
            2
        } else if name == "*/*" {
            1
        } else {
            continue;
        };
        let q = range
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .map_or(1.0, |q| q.clamp(0.0, 1.0));
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_compare_as_http_says() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=UTF-8"));
        assert!(!is_json("application/jsonp"));
        assert!(!is_json("text/plain"));

        let json = "application/json";
        assert_eq!(quality(None, json), 1.0);
        assert_eq!(quality(Some("application/json;q=0"), json), 0.0);
        assert_eq!(
            quality(Some("application/json ; Q=0.5, text/event-stream"), json),
            0.5
        );
        assert_eq!(quality(Some("text/event-stream"), json), 0.0);
        assert_eq!(quality(Some("*/*;q=0.1, application/*;q=0.3"), json), 0.3);
        // The most specific range decides, whatever comes first.
        assert_eq!(quality(Some("*/*, application/json;q=0"), json), 0.0);
        assert_eq!(quality(Some("APPLICATION/JSON"), json), 1.0);
    }
}
