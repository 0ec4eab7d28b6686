//! The brands this agent represents and the rights it licenses for them. An adopter loads
//! these from its rights-management system; here they are fixed, fictional data.

use serde_json::{Value, json};

/// A brand on the roster.
pub(crate) struct Brand {
    pub(crate) id: &'static str,
    pub(crate) house_domain: &'static str,
    pub(crate) house_name: &'static str,
    pub(crate) name: &'static str,
    /// Every field but the house and names: `(field, value)`, in the request's `fields` names.
    pub(crate) fields: fn() -> Vec<(&'static str, Value)>,
}

/// A licensable right.
pub(crate) struct Right {
    pub(crate) id: &'static str,
    pub(crate) brand_id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) right_type: &'static str,
    pub(crate) uses: &'static [&'static str],
    /// Where it may be used (empty: everywhere).
    pub(crate) countries: &'static [&'static str],
    /// The period it may be licensed for (`YYYY-MM-DD`, inclusive).
    pub(crate) available_from: &'static str,
    pub(crate) available_until: &'static str,
    pub(crate) options: &'static [PriceOption],
    /// Whether campaigns using it must disclose it (an AI likeness, a paid endorsement).
    pub(crate) disclosure: Option<&'static str>,
}

/// A way to pay for a right.
pub(crate) struct PriceOption {
    pub(crate) id: &'static str,
    /// `flat_rate` or `cpm`.
    pub(crate) model: &'static str,
    pub(crate) price: f64,
    pub(crate) currency: &'static str,
    pub(crate) uses: &'static [&'static str],
    pub(crate) period: Option<&'static str>,
    /// The most impressions the licence covers.
    pub(crate) impression_cap: Option<i64>,
    pub(crate) description: &'static str,
}

pub(crate) const BRANDS: &[Brand] = &[
    Brand {
        id: "acme_outdoor",
        house_domain: "acmeoutdoor.example",
        house_name: "Acme Outdoor Co.",
        name: "Acme Outdoor",
        fields: acme_fields,
    },
    Brand {
        id: "nova_motors",
        house_domain: "novamotors.example",
        house_name: "Nova Motors Group",
        name: "Nova Motors",
        fields: nova_fields,
    },
];

fn acme_fields() -> Vec<(&'static str, Value)> {
    vec![
        (
            "description",
            json!("Trail and camping gear built for long days outside."),
        ),
        ("industries", json!(["retail", "sporting_goods"])),
        ("keller_type", json!("master")),
        ("tagline", json!("Further, lighter.")),
        (
            "logos",
            json!([{"url": "https://assets.acmeoutdoor.example/logo/primary.svg",
                    "orientation": "horizontal", "background": "light-bg", "variant": "primary"},
                   {"url": "https://assets.acmeoutdoor.example/logo/icon.svg",
                    "orientation": "square", "background": "transparent-bg", "variant": "icon"}]),
        ),
        (
            "colors",
            json!({"primary": "#2F5D3A", "secondary": "#E8A33D", "background": "#F6F3EC"}),
        ),
        (
            "fonts",
            json!({"primary": "Source Sans 3", "secondary": "Merriweather"}),
        ),
        (
            "tone",
            json!({"voice": "plain-spoken and encouraging",
                   "attributes": ["practical", "warm", "outdoorsy"],
                   "dos": ["name the trail or the conditions"],
                   "donts": ["promise safety", "mock beginners"]}),
        ),
        (
            "rights",
            json!({"available_uses": ["likeness", "name", "endorsement", "ai_generated_image",
                                      "commercial", "editorial"]}),
        ),
    ]
}

fn nova_fields() -> Vec<(&'static str, Value)> {
    vec![
        (
            "description",
            json!("Electric vehicles for long road trips."),
        ),
        ("industries", json!(["automotive"])),
        ("keller_type", json!("master")),
        ("tagline", json!("Charge ahead.")),
        (
            "logos",
            json!([{"url": "https://assets.novamotors.example/logo.svg",
                    "orientation": "horizontal", "background": "dark-bg", "variant": "primary"}]),
        ),
        ("colors", json!({"primary": "#0B1F3A", "accent": "#3DDC97"})),
        ("fonts", json!({"primary": "Inter"})),
        (
            "tone",
            json!({"voice": "confident and technical", "attributes": ["precise", "optimistic"]}),
        ),
        (
            "rights",
            json!({"available_uses": ["likeness", "voice", "ai_generated_image", "commercial",
                                      "sync", "background_music"]}),
        ),
    ]
}

pub(crate) const RIGHTS: &[Right] = &[
    Right {
        id: "mercer_ai_likeness",
        brand_id: "acme_outdoor",
        name: "Ridge Mercer: AI likeness",
        description: "Generate images of Ridge Mercer, Acme's trail-running ambassador, for advertising",
        right_type: "talent",
        uses: &["likeness", "name", "ai_generated_image", "commercial"],
        countries: &["US", "CA"],
        available_from: "2025-01-01",
        available_until: "2027-12-31",
        options: &[PriceOption {
            id: "mercer_ai_flat",
            model: "flat_rate",
            price: 25.0,
            currency: "USD",
            uses: &["likeness", "ai_generated_image", "commercial"],
            period: Some("one_time"),
            impression_cap: None,
            description: "One campaign, up to 50 generated images",
        }],
        disclosure: Some("Image generated with AI; likeness used under licence."),
    },
    Right {
        id: "mercer_endorsement",
        brand_id: "acme_outdoor",
        name: "Ridge Mercer: endorsement",
        description: "Ridge Mercer's likeness, voice and endorsement in commercial campaigns",
        right_type: "talent",
        uses: &["likeness", "voice", "name", "endorsement", "commercial"],
        countries: &["US"],
        available_from: "2025-01-01",
        available_until: "2027-12-31",
        options: &[
            PriceOption {
                id: "mercer_endorsement_cpm",
                model: "cpm",
                price: 3.5,
                currency: "USD",
                uses: &["likeness", "endorsement", "commercial"],
                period: Some("monthly"),
                impression_cap: Some(1_000_000),
                description: "Per thousand impressions, up to a million a month",
            },
            PriceOption {
                id: "mercer_endorsement_monthly",
                model: "flat_rate",
                price: 4000.0,
                currency: "USD",
                uses: &["likeness", "voice", "endorsement", "commercial"],
                period: Some("monthly"),
                impression_cap: None,
                description: "Unlimited impressions, by the month",
            },
        ],
        disclosure: Some("Paid endorsement."),
    },
    Right {
        id: "acme_trailhead_mark",
        brand_id: "acme_outdoor",
        name: "Trailhead mark",
        description: "The Acme Trailhead logo and marks, in editorial and commercial use",
        right_type: "brand_ip",
        uses: &["commercial", "editorial", "ai_generated_image"],
        countries: &[],
        available_from: "2024-06-01",
        available_until: "2028-12-31",
        options: &[PriceOption {
            id: "trailhead_quarterly",
            model: "flat_rate",
            price: 500.0,
            currency: "USD",
            uses: &["commercial", "editorial", "ai_generated_image"],
            period: Some("quarterly"),
            impression_cap: None,
            description: "By the quarter",
        }],
        disclosure: None,
    },
    Right {
        id: "nova_volt_character",
        brand_id: "nova_motors",
        name: "Volt, the road-trip robot",
        description: "Nova's animated road-trip companion, its likeness and voice",
        right_type: "character",
        uses: &["likeness", "voice", "ai_generated_image", "commercial"],
        countries: &[],
        available_from: "2025-03-01",
        available_until: "2027-02-28",
        options: &[
            PriceOption {
                id: "volt_cpm",
                model: "cpm",
                price: 2.0,
                currency: "USD",
                uses: &["likeness", "voice", "commercial"],
                period: Some("monthly"),
                impression_cap: Some(2_000_000),
                description: "Per thousand impressions, up to two million a month",
            },
            PriceOption {
                id: "volt_monthly",
                model: "flat_rate",
                price: 1200.0,
                currency: "USD",
                uses: &["likeness", "voice", "ai_generated_image", "commercial"],
                period: Some("monthly"),
                impression_cap: None,
                description: "By the month",
            },
        ],
        disclosure: None,
    },
    Right {
        id: "nova_voltline_jingle",
        brand_id: "nova_motors",
        name: "Voltline jingle",
        description: "The Voltline jingle, synced to picture or under a spot",
        right_type: "music",
        uses: &["sync", "background_music", "commercial"],
        countries: &[],
        available_from: "2025-01-01",
        available_until: "2029-12-31",
        options: &[PriceOption {
            id: "jingle_annual",
            model: "flat_rate",
            price: 900.0,
            currency: "USD",
            uses: &["sync", "background_music", "commercial"],
            period: Some("annual"),
            impression_cap: None,
            description: "A year of use",
        }],
        disclosure: None,
    },
];

pub(crate) fn brand(id: &str) -> Option<&'static Brand> {
    BRANDS.iter().find(|b| b.id == id)
}

pub(crate) fn right(id: &str) -> Option<&'static Right> {
    RIGHTS.iter().find(|r| r.id == id)
}

impl PriceOption {
    pub(crate) fn wire(&self) -> Value {
        let mut o = json!({"pricing_option_id": self.id, "model": self.model, "price": self.price,
                           "currency": self.currency, "uses": self.uses,
                           "description": self.description});
        if let Some(p) = self.period {
            o["period"] = json!(p);
        }
        if let Some(c) = self.impression_cap {
            o["impression_cap"] = json!(c);
        }
        o
    }
}
