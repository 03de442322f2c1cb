//! netloom scenario files: the typed format (`format`) and its parse-level errors (`error`).
pub mod error;
pub mod format;
