//! adcp-codegen turns the AdCP JSON schemas into strict Rust wire types and a task catalogue.
//!
//! It is used from a build script (`adcp-runtime/wire/build.rs` does exactly this) and from the
//! `adcp-codegen` CLI, for adopters who pin another schema release:
//!
//! ```no_run
//! fn main() -> Result<(), adcp_codegen::Error> {
//!     let out = adcp_codegen::Generator::new(adcp_codegen::Settings::default())
//!         .schemas_dir("../../schemas/3.0")
//!         .generate()?;
//!     out.write_to_out_dir("adcp_wire.rs")?;
//!     Ok(())
//! }
//! ```
//!
//! The schemas are read whole, every `$ref` resolved through one definitions map, rewritten by
//! a handful of rules where a JSON Schema construct has no faithful one-to-one Rust form (see
//! `lower/`), and emitted: string enums through typify, whose output for them is faithful;
//! structs, unions with guard-based decoding, constants and the catalogue by our own emitter.
//! Constraints the types cannot carry (patterns, bounds, formats, `if`/`then`) are left to a
//! validator over the unmodified schemas. Output is deterministic and formatted by prettyplease.

mod catalog;
mod emit;
mod error;
mod ir;
mod load;
mod lower;
mod naming;

use std::path::{Path, PathBuf};

pub use catalog::{
    AsyncArm, Catalog, ErrorCode, RUNTIME_SCENARIOS, RUNTIME_TASKS, RuntimeTask, Specialism, Task,
};
pub use error::{Error, Problem, ProblemKind};
pub use load::SchemaSet;

/// Generation settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub(crate) preferred_dirs: Vec<String>,
    pub(crate) support_path: String,
    pub(crate) embed_schemas: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preferred_dirs: vec!["core".into(), "media-buy".into()],
            support_path: "crate::__support".into(),
            embed_schemas: None,
        }
    }
}

impl Settings {
    /// Where two schema files share a stem, the one in the first of these directories keeps
    /// the bare type name; the others get their directory as a prefix. Default: `core`,
    /// `media-buy`.
    pub fn with_preferred_dirs<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        dirs: I,
    ) -> Self {
        self.preferred_dirs = dirs.into_iter().map(Into::into).collect();
        self
    }

    /// The path generated code uses for its support module (`crate::__support` inside
    /// `adcp-wire`; `::adcp_runtime::wire::__support` for code generated into another crate).
    pub fn with_support_path(mut self, path: impl Into<String>) -> Self {
        self.support_path = path.into();
        self
    }

    /// Also emit `SCHEMA_FILES`, embedding every schema with `include_str!`. `prefix` is the
    /// `concat!` arguments that spell the schema directory, for example
    /// `env!("CARGO_MANIFEST_DIR"), "/../../schemas/3.0/"`.
    pub fn with_embedded_schemas(mut self, prefix: impl Into<String>) -> Self {
        self.embed_schemas = Some(prefix.into());
        self
    }
}

/// Reads a schema tree and generates Rust from it.
#[derive(Clone, Debug)]
pub struct Generator {
    settings: Settings,
    schemas_dir: PathBuf,
    rerun_if_changed: bool,
}

impl Generator {
    /// A generator with the given settings, reading `schemas/3.0` by default.
    pub fn new(settings: Settings) -> Self {
        Generator {
            settings,
            schemas_dir: PathBuf::from("schemas/3.0"),
            rerun_if_changed: false,
        }
    }

    /// The schema tree to read.
    pub fn schemas_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.schemas_dir = dir.as_ref().to_path_buf();
        self
    }

    /// Print `cargo:rerun-if-changed` for the directory and every file read (build scripts).
    pub fn rerun_if_changed(mut self, yes: bool) -> Self {
        self.rerun_if_changed = yes;
        self
    }

    /// Reads, checks and generates. Every schema problem is reported in one error.
    pub fn generate(&self) -> Result<Output, Error> {
        let set = SchemaSet::load(&self.schemas_dir);
        if self.rerun_if_changed {
            #[allow(clippy::print_stdout)]
            {
                println!("cargo:rerun-if-changed={}", self.schemas_dir.display());
                if let Ok(set) = &set {
                    for p in set.paths() {
                        println!("cargo:rerun-if-changed={}", p.display());
                    }
                }
            }
        }
        let set = set?;
        let lowered = lower::lower(&set, &self.settings).map_err(Error::Schemas)?;
        let catalog = catalog::build(&set, &lowered);
        let code = emit::emit(&set, &lowered, &catalog, &self.settings)?;
        let stats = Stats::of(&lowered.model, &code, &set);
        Ok(Output {
            code,
            catalog,
            stats,
            version: set.version,
        })
    }
}

/// Counts describing one generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Schema files read.
    pub files: usize,
    /// Structs.
    pub structs: usize,
    /// Unions (`oneOf`/`anyOf` with guard-based decoding).
    pub unions: usize,
    /// String enums (typify).
    pub string_enums: usize,
    /// Integer enums.
    pub int_enums: usize,
    /// Constant types.
    pub consts: usize,
    /// Type aliases.
    pub aliases: usize,
    /// Lines of generated code.
    pub lines: usize,
}

impl Stats {
    fn of(model: &ir::Model, code: &str, set: &SchemaSet) -> Self {
        let mut s = Stats {
            files: set.originals.len(),
            lines: code.lines().count(),
            ..Stats::default()
        };
        for t in &model.types {
            match t.kind {
                ir::Kind::Struct(_) => s.structs += 1,
                ir::Kind::Union(_) => s.unions += 1,
                ir::Kind::StrEnum { .. } => s.string_enums += 1,
                ir::Kind::IntEnum { .. } => s.int_enums += 1,
                ir::Kind::ConstStr(_) => s.consts += 1,
                ir::Kind::Alias(_) => s.aliases += 1,
                ir::Kind::Pending => {}
            }
        }
        s
    }

    /// Every named type.
    pub fn types(&self) -> usize {
        self.structs + self.unions + self.string_enums + self.int_enums + self.consts + self.aliases
    }
}

/// The result of a generation.
#[derive(Clone, Debug)]
pub struct Output {
    /// The Rust source, formatted.
    pub code: String,
    /// The task catalogue.
    pub catalog: Catalog,
    /// Counts.
    pub stats: Stats,
    /// The AdCP release generated from.
    pub version: String,
}

impl Output {
    /// Writes the code to `$OUT_DIR/<file>` (build scripts) and returns the path.
    pub fn write_to_out_dir(&self, file: &str) -> Result<PathBuf, Error> {
        let dir = std::env::var_os("OUT_DIR").ok_or(Error::NoOutDir)?;
        let path = Path::new(&dir).join(file);
        self.write_to(&path)?;
        Ok(path)
    }

    /// Writes the code to `path`, leaving the file untouched when it is already current.
    pub fn write_to(&self, path: &Path) -> Result<(), Error> {
        if std::fs::read_to_string(path).is_ok_and(|old| old == self.code) {
            return Ok(());
        }
        std::fs::write(path, &self.code).map_err(|source| Error::Io {
            action: "writing",
            path: path.to_path_buf(),
            source,
        })
    }
}
