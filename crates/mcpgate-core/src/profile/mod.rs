//! Profile file → validated profile (checked against an [`ApiSpec`](crate::spec::ApiSpec)).

pub mod format;

pub use format::*;
