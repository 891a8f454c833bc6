//! Raw document → [`ApiSpec`](super::ApiSpec).

use super::LoadedSpec;

/// Why a document could not be loaded at all (as opposed to per-operation diagnostics).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid JSON or YAML.
    #[error("{source_name}: cannot parse: {message}")]
    Syntax {
        /// File name or label.
        source_name: String,
        /// Parser message with line and column.
        message: String,
    },
    /// The document is not OpenAPI 3.x.
    #[error("{source_name}: {message}")]
    NotOpenApi3 {
        /// File name or label.
        source_name: String,
        /// What was found instead.
        message: String,
    },
}

/// Options for [`load`].
pub struct LoadOptions<'a> {
    /// Name used in diagnostics (usually the file name).
    pub source_name: &'a str,
    /// Resolves an external reference (relative URI as written in `$ref`, without fragment) to
    /// its text; `None` means "not available", which becomes a diagnostic.
    pub external: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("source_name", &self.source_name)
            .finish_non_exhaustive()
    }
}

/// Parses and resolves an OpenAPI 3.0/3.1 document (JSON or YAML text).
pub fn load(_text: &str, _options: &LoadOptions<'_>) -> Result<LoadedSpec, SpecError> {
    unimplemented!("spec loader is being written")
}
