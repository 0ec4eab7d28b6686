//! The generator: what a creative says (its copy) from the brief, the message, the assets the
//! buyer already has and a catalogue item; and the banner that shows it, composed as SVG at
//! each format's size.
//!
//! This is the part an adopter replaces with a model. The composer here is deterministic: the
//! copy comes from the buyer's own words (a brief's messaging, the manifest's text, a quoted
//! phrase of the message, the catalogue item the message names), never invented; the look
//! from the brand (a palette chosen by its domain). Everything taken from a request is
//! escaped into the SVG.

use adcp_runtime::formats::escape;
use serde_json::{Map, Value};

/// What a banner says, and where it leads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Copy {
    pub(crate) headline: String,
    pub(crate) line: Option<String>,
    pub(crate) cta: String,
    pub(crate) image: Option<String>,
    pub(crate) click: Option<String>,
}

/// The longest headline a banner carries.
const HEADLINE_MAX: usize = 60;

/// Palettes (background, text, button), one chosen per brand.
const PALETTES: &[(&str, &str, &str)] = &[
    ("#0b3d2e", "#ffffff", "#f2a900"),
    ("#1d3557", "#f1faee", "#e63946"),
    ("#fefae0", "#283618", "#bc6c25"),
    ("#22223b", "#f2e9e4", "#9a8c98"),
];

fn text(assets: &Map<String, Value>, id: &str) -> Option<String> {
    assets
        .get(id)
        .and_then(|a| a["content"].as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn http(u: Option<&str>) -> Option<String> {
    u.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_owned)
}

/// A phrase the message quotes ("…" or “…”), the buyer's own headline.
fn quoted(message: &str) -> Option<String> {
    for (open, close) in [('"', '"'), ('“', '”')] {
        if let Some((_, rest)) = message.split_once(open)
            && let Some((q, _)) = rest.split_once(close)
            && !q.trim().is_empty()
        {
            return Some(q.trim().to_owned());
        }
    }
    None
}

/// The subject of a request like "Create a display banner for a summer outdoor gear sale.":
/// what follows its first " for ", up to the sentence's end, capitalised.
fn subject(message: &str) -> Option<String> {
    let first = message.split(['.', '!', '?', '\n']).next()?.trim();
    let (_, about) = first.split_once(" for ")?;
    let about = about
        .trim_start_matches("a ")
        .trim_start_matches("an ")
        .trim_start_matches("the ")
        .trim();
    let mut c = about.chars();
    let head = c.next()?;
    Some(head.to_uppercase().chain(c).collect())
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The copy of a creative, in order of precedence: the manifest's own text, the brief's
/// messaging, the catalogue item the message names, a phrase the message quotes, what the
/// message asks for.
pub(crate) fn copy(
    message: &str,
    manifest: &Map<String, Value>,
    item: Option<&Map<String, Value>>,
    brand: Option<&str>,
) -> Option<Copy> {
    let brief = manifest.get("brief");
    let messaging = brief.map(|b| &b["messaging"]);
    let from_brief = |k: &str| {
        messaging
            .and_then(|m| m[k].as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let item_title = item.and_then(|i| i.get("title")).and_then(Value::as_str);
    let price = item.and_then(|i| {
        let p = i.get("price")?;
        Some(format!(
            "{} {:.2}",
            p["currency"].as_str().unwrap_or("USD"),
            p["amount"].as_f64()?
        ))
    });
    let headline = text(manifest, "headline")
        .or_else(|| from_brief("headline"))
        .or_else(|| item_title.map(str::to_owned))
        .or_else(|| quoted(message))
        .or_else(|| subject(message))?;
    let line = text(manifest, "body")
        .or_else(|| from_brief("tagline"))
        .or(price);
    let cta = text(manifest, "cta")
        .or_else(|| from_brief("cta"))
        .unwrap_or_else(|| {
            if item.is_some() {
                "Shop now"
            } else {
                "Learn more"
            }
            .into()
        });
    let image = http(
        item.and_then(|i| i.get("image_url"))
            .and_then(Value::as_str),
    );
    let click = http(
        manifest
            .get("click_url")
            .and_then(|c| c["url"].as_str())
            .or_else(|| item.and_then(|i| i.get("url")).and_then(Value::as_str)),
    )
    .or_else(|| brand.map(|d| format!("https://{d}/")));
    Some(Copy {
        headline: clip(&headline, HEADLINE_MAX),
        line: line.map(|l| clip(&l, HEADLINE_MAX)),
        cta: clip(&cta, 20),
        image,
        click,
    })
}

/// The catalogue item a message names by its title.
pub(crate) fn named_item<'a>(
    message: &str,
    items: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Option<&'a Map<String, Value>> {
    let m = message.to_lowercase();
    items.into_iter().find(|i| {
        i.get("title")
            .and_then(Value::as_str)
            .is_some_and(|t| t.len() > 2 && m.contains(&t.to_lowercase()))
    })
}

/// The banner at `w`×`h`: the brand's palette, the item's picture (if any) on the left, the
/// headline and line sized to the height, and the call to action.
pub(crate) fn banner(copy: &Copy, w: i64, h: i64, brand: Option<&str>) -> String {
    let pick = brand
        .map(|d| {
            d.bytes()
                .fold(0usize, |a, b| a.wrapping_mul(31) + b as usize)
        })
        .unwrap_or(0)
        % PALETTES.len();
    let (bg, fg, button) = PALETTES[pick];
    let wide = w >= h * 3;
    let pic = copy.image.as_ref().map(|u| {
        let side = if wide { h } else { (h / 2).min(w) };
        (side, format!(
            "<image href=\"{}\" x=\"0\" y=\"0\" width=\"{side}\" height=\"{side}\" preserveAspectRatio=\"xMidYMid slice\"/>",
            escape(u)
        ))
    });
    let (left, top) = match (&pic, wide) {
        (Some((side, _)), true) => (side + 8, 0),
        (Some((side, _)), false) => (0, *side),
        (None, _) => (0, 0),
    };
    let size = if wide { h * 2 / 5 } else { (h - top) / 8 }.clamp(8, 32);
    let room = ((w - left - 16) as f64 / (size as f64 * 0.55)).max(4.0) as usize;
    // The headline wrapped to the width, on as many lines as the height allows.
    let lines_max = if wide { 1 } else { 3 };
    let mut lines: Vec<String> = Vec::new();
    for word in copy.headline.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= room => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(clip(word, room)),
        }
    }
    if lines.len() > lines_max {
        let rest = lines.split_off(lines_max - 1).join(" ");
        lines.push(clip(&rest, room));
    }
    let line = copy
        .line
        .as_ref()
        .map(|l| clip(l, room + room / 3))
        .filter(|_| h >= 90);
    let (bw, bh) = (
        (copy.cta.chars().count() as i64 * size * 3 / 5 + 24).min(w / 2),
        size * 3 / 2,
    );
    let (bx, by) = if wide {
        (w - bw - 8, (h - bh) / 2)
    } else {
        (left + 12, h - bh - 12)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
         <rect width=\"{w}\" height=\"{h}\" fill=\"{bg}\"/>"
    );
    if let Some((_, image)) = &pic {
        svg.push_str(image);
    }
    let ty = if wide {
        h / 2 + size / 3
    } else {
        top + size + 10
    };
    let tspans: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let dy = if i == 0 { 0 } else { size + 2 };
            format!(
                "<tspan x=\"{}\" dy=\"{dy}\">{}</tspan>",
                left + 12,
                escape(l)
            )
        })
        .collect();
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{ty}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{size}\" font-weight=\"bold\" fill=\"{fg}\">{tspans}</text>",
        left + 12,
    ));
    let ty = ty + (size + 2) * (lines.len() as i64 - 1);
    if let Some(l) = line.filter(|_| !wide) {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{}\" fill=\"{fg}\">{}</text>",
            left + 12,
            ty + size + 4,
            (size * 3 / 4).max(8),
            escape(&l)
        ));
    }
    svg.push_str(&format!(
        "<rect x=\"{bx}\" y=\"{by}\" width=\"{bw}\" height=\"{bh}\" rx=\"4\" fill=\"{button}\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"{}\" fill=\"{bg}\">{}</text></svg>",
        bx + bw / 2,
        by + bh * 2 / 3,
        (size * 3 / 4).max(8),
        escape(&copy.cta)
    ));
    svg
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::{banner, copy, named_item};

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn copy_comes_from_the_buyers_words() {
        let none = Map::new();
        let c = copy(
            "Create a display banner for a summer outdoor gear sale. Use bright colours.",
            &none,
            None,
            Some("acmeoutdoor.example"),
        );
        let c = c.expect("copy");
        assert_eq!(c.headline, "Summer outdoor gear sale");
        assert_eq!(c.click.as_deref(), Some("https://acmeoutdoor.example/"));
        let q = copy("Headline: \"Trail season is here\"", &none, None, None).expect("copy");
        assert_eq!(q.headline, "Trail season is here");
        let given = map(json!({"headline": {"asset_type": "text", "content": "Ours"}}));
        assert_eq!(
            copy("anything for anyone", &given, None, None)
                .expect("copy")
                .headline,
            "Ours"
        );
        assert!(copy("Make it pop", &none, None, None).is_none());
    }

    #[test]
    fn a_catalogue_item_named_in_the_message_is_the_subject() {
        let items = [
            map(json!({"item_id": "a", "title": "Trail Runner"})),
            map(
                json!({"item_id": "b", "title": "Peak Jacket X", "image_url": "https://cdn.example/j.jpg",
                       "url": "javascript:alert(1)", "price": {"amount": 449, "currency": "USD"}}),
            ),
        ];
        let item = named_item("An ad for the Peak Jacket X, please", &items).expect("found");
        let c = copy(
            "An ad for the Peak Jacket X",
            &Map::new(),
            Some(item),
            Some("a.example"),
        )
        .expect("copy");
        assert_eq!(
            (c.headline.as_str(), c.line.as_deref()),
            ("Peak Jacket X", Some("USD 449.00"))
        );
        assert_eq!(
            c.click.as_deref(),
            Some("https://a.example/"),
            "only http(s) links"
        );
    }

    #[test]
    fn banners_escape_what_they_show() {
        let none = Map::new();
        let c = copy("\"<b>Trail</b> & co\"", &none, None, None).expect("copy");
        let svg = banner(&c, 300, 250, None);
        assert!(svg.contains("&lt;b&gt;Trail&lt;/b&gt; &amp;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
