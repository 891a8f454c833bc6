//! Load-time findings: every problem found in a spec or profile becomes a [`Diagnostic`] with a
//! location, so a whole file is reported at once instead of stopping at the first error.

use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something that works but that a user may want to know (a skipped construct).
    Warning,
    /// Something that makes the input unusable as written.
    Error,
}

/// One finding with where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Which file (or a label such as `spec` or `profile`).
    pub source: String,
    /// JSON pointer inside that file (`/paths/~1pets/get`), or empty for the whole file.
    pub pointer: String,
    /// What is wrong, lowercase, no trailing punctuation.
    pub message: String,
}

impl Diagnostic {
    /// An error at `pointer` in `source`.
    pub fn error(
        source: impl Into<String>,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            source: source.into(),
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// A warning at `pointer` in `source`.
    pub fn warning(
        source: impl Into<String>,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            source: source.into(),
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// Whether this finding is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if self.pointer.is_empty() {
            write!(f, "{level}: {}: {}", self.source, self.message)
        } else {
            write!(
                f,
                "{level}: {}#{}: {}",
                self.source, self.pointer, self.message
            )
        }
    }
}

/// Escapes one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Joins reference tokens into a JSON pointer, escaping each.
pub fn pointer<I, S>(tokens: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for t in tokens {
        out.push('/');
        out.push_str(&escape_pointer_token(t.as_ref()));
    }
    out
}
