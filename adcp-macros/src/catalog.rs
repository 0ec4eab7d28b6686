//! What the macro knows about AdCP, generated from the schemas by `build.rs`, and the specialism
//! model built on it.
//!
//! A specialism requires its entry-point tasks (the manifest's `entry_point_tools`, the
//! `required_tools` of its storyboard) and the tasks its storyboards exercise that a
//! reference framework also requires of a claimant (adcp-codegen's `SPECIALISM_TASKS`). It
//! may leave out the other tasks its storyboards exercise; the runtime reports those at boot.
//! Protocol baselines (`protocols/<p>/index.yaml`) gate a storyboard on any one of their
//! tasks, so they are reported, not required.

pub(crate) struct TaskInfo {
    pub(crate) name: &'static str,
    #[allow(dead_code)]
    pub(crate) mutating: bool,
    pub(crate) has_async: bool,
    pub(crate) request_type: &'static str,
    pub(crate) response_type: &'static str,
    /// The response type and each of its arms.
    pub(crate) answers: &'static [&'static str],
}

pub(crate) struct SpecialismInfo {
    pub(crate) id: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) required: &'static [&'static str],
    #[allow(dead_code)]
    pub(crate) exercised: &'static [&'static str],
}

/// A task the runtime serves itself (adcp-codegen's `RUNTIME_TASKS`, which the runtime reads
/// too): a method implementing it is an error, unless it is `overridable`.
pub(crate) struct RuntimeTask {
    pub(crate) name: &'static str,
    /// How the runtime serves it, as a clause.
    pub(crate) why: &'static str,
    /// A platform may implement it anyway (`list_accounts`, `sync_accounts`).
    pub(crate) overridable: bool,
}

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// The runtime's entry for `name`, when the platform may not implement it.
pub(crate) fn runtime_only(name: &str) -> Option<&'static RuntimeTask> {
    RUNTIME_TASKS
        .iter()
        .find(|t| t.name == name && !t.overridable)
}

/// Whether the runtime serves `name` when the platform does not.
pub(crate) fn runtime_serves(name: &str) -> bool {
    RUNTIME_TASKS.iter().any(|t| t.name == name)
}

pub(crate) fn task(name: &str) -> Option<&'static TaskInfo> {
    TASKS.iter().find(|t| t.name == name)
}

pub(crate) fn specialism(id: &str) -> Option<&'static SpecialismInfo> {
    SPECIALISMS.iter().find(|s| s.id == id)
}

pub(crate) fn scenario(name: &str) -> Option<&'static str> {
    SCENARIOS
        .iter()
        .copied()
        .find(|s| *s == name && !RUNTIME_SCENARIOS.contains(s))
}

/// The closest candidate to a misspelt name, when one is close enough to suggest.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

pub(crate) fn with_suggestion(message: String, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("{message}\nnote: did you mean `{s}`?"),
        None => message,
    }
}
