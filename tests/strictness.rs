//! strictness
