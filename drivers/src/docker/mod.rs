//! The Docker model (filled in next).
