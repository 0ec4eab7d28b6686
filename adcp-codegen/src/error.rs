//! Typed errors. A schema set is checked as a whole: every problem is collected and reported
//! together, each with the file and JSON pointer it concerns.

use std::fmt;
use std::path::PathBuf;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The schemas cannot be generated faithfully; every problem found is listed.
    #[error("{} schema problem(s):\n{}", .0.len(), Problems(.0))]
    Schemas(Vec<Problem>),
    /// `write_to_out_dir` was called outside a build script.
    #[error("OUT_DIR is not set: `write_to_out_dir` must be called from a build script")]
    NoOutDir,
    /// The emitted tokens did not form a Rust file (a generator bug).
    #[error("generated code does not parse as Rust: {0}")]
    Emit(String),
}

/// One problem with one place in the schemas.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// Schema file, relative to the schema root (`core/product.json`).
    pub file: String,
    /// JSON pointer inside the file (empty for the root).
    pub pointer: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// The kinds of schema problems the generator reports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The file is not valid JSON.
    InvalidJson(String),
    /// A `$ref` points at nothing in the set.
    UnresolvedRef(String),
    /// Two different schema locations map to one Rust type name.
    DuplicateTypeName {
        /// The clashing name.
        name: String,
        /// The other location (`file#pointer`).
        other: String,
    },
    /// An `enum` with no values, which no value could satisfy.
    EmptyEnum,
    /// Two JSON property names map to one Rust field name.
    DuplicateFieldName(String),
    /// A construct the generator cannot express faithfully.
    Unsupported(String),
    /// typify rejected a schema it was given.
    Typify(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}: ", self.file, self.pointer)?;
        match &self.kind {
            ProblemKind::InvalidJson(e) => write!(f, "not valid JSON: {e}"),
            ProblemKind::UnresolvedRef(r) => write!(f, "`$ref` `{r}` resolves to nothing"),
            ProblemKind::DuplicateTypeName { name, other } => {
                write!(f, "type name `{name}` is also generated for `{other}`")
            }
            ProblemKind::EmptyEnum => write!(f, "`enum` has no values"),
            ProblemKind::DuplicateFieldName(n) => {
                write!(f, "two properties map to the Rust field `{n}`")
            }
            ProblemKind::Unsupported(what) => write!(f, "cannot be generated faithfully: {what}"),
            ProblemKind::Typify(e) => write!(f, "typify: {e}"),
        }
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}
