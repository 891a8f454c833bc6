//! Secrets handling: random opaque tokens, their hashes, PKCE, and AEAD for upstream tokens.
//!
//! Our tokens are 256-bit random values, base64url, with a readable prefix (`mcpg_at_`, …)
//! so secret scanners can spot them; the store keeps only their SHA-256. Upstream tokens are
//! sealed with XChaCha20-Poly1305 (random 192-bit nonce) under `MCP_TOKEN_ENCRYPTION_KEY`,
//! with the record's key as associated data, so a ciphertext cannot be moved to another
//! record. A previous key (`MCP_TOKEN_ENCRYPTION_KEY_PREVIOUS`) still opens old records
//! during a key rotation; everything written is sealed with the current key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// A random opaque token: `prefix` + 43 base64url characters (256 bits).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    format!("{prefix}{}", B64URL.encode(bytes))
}

fn fill_random(buf: &mut [u8]) {
    // The OS generator failing is not something to limp on with weaker randomness.
    if let Err(e) = getrandom::fill(buf) {
        panic!("the operating system's random generator failed: {e}");
    }
}

/// Hex SHA-256 of a token (what the store keeps).
pub(super) fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time string equality.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The S256 code challenge of a PKCE verifier.
pub(super) fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is a well-formed PKCE verifier (RFC 7636 §4.1) whose S256 challenge is
/// `challenge`.
pub(super) fn pkce_verify(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed && same(&pkce_challenge(verifier), challenge)
}

/// Why a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not set.
    #[error(
        "MCP_TOKEN_ENCRYPTION_KEY is not set; OAuth mode stores users' upstream tokens and needs it (generate one with `openssl rand -base64 32`)"
    )]
    Missing,
    /// Not base64 of 32 bytes.
    #[error(
        "{0} must be base64 of exactly 32 random bytes (`openssl rand -base64 32`); it decodes to {1} bytes"
    )]
    Length(&'static str, usize),
    /// Not base64.
    #[error("{0} is not valid base64 (generate one with `openssl rand -base64 32`)")]
    Encoding(&'static str),
    /// Low entropy.
    #[error(
        "{0} looks weak (too few distinct bytes); generate a random one with `openssl rand -base64 32`"
    )]
    Weak(&'static str),
}

/// The sealing keys: the current one and optionally the previous one.
pub struct Keys {
    current: XChaCha20Poly1305,
    previous: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

fn parse_key(var: &'static str, text: &str) -> Result<XChaCha20Poly1305, KeyError> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| B64URL.decode(text.trim_end_matches('=')))
        .map_err(|_| KeyError::Encoding(var))?;
    if bytes.len() != 32 {
        return Err(KeyError::Length(var, bytes.len()));
    }
    let mut distinct = bytes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // 32 random bytes have ~30 distinct values; 16 or fewer is a pattern, not randomness.
    if distinct.len() <= 16 {
        return Err(KeyError::Weak(var));
    }
    XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| KeyError::Length(var, bytes.len()))
}

impl Keys {
    /// Parses the current and the optional previous key.
    pub fn new(current: Option<&str>, previous: Option<&str>) -> Result<Self, KeyError> {
        let current = parse_key(
            "MCP_TOKEN_ENCRYPTION_KEY",
            current
                .filter(|s| !s.trim().is_empty())
                .ok_or(KeyError::Missing)?,
        )?;
        let previous = previous
            .filter(|s| !s.trim().is_empty())
            .map(|p| parse_key("MCP_TOKEN_ENCRYPTION_KEY_PREVIOUS", p))
            .transpose()?;
        Ok(Self { current, previous })
    }

    /// Seals `plain`, bound to `context` (associated data): base64url(nonce ‖ ciphertext).
    pub fn seal(&self, plain: &[u8], context: &str) -> String {
        let mut nonce = [0u8; 24];
        fill_random(&mut nonce);
        let nonce = XNonce::from(nonce);
        let sealed = self
            .current
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        B64URL.encode(out)
    }

    /// Opens what [`Keys::seal`] made with the same `context` (current key, then previous).
    pub fn open(&self, sealed: &str, context: &str) -> Option<Vec<u8>> {
        let bytes = B64URL.decode(sealed).ok()?;
        if bytes.len() < 24 + 16 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).ok()?;
        let payload = || Payload {
            msg: ct,
            aad: context.as_bytes(),
        };
        self.current
            .decrypt(&nonce, payload())
            .ok()
            .or_else(|| self.previous.as_ref()?.decrypt(&nonce, payload()).ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: &str = "mBrFT3MLzpzJygV6+ygFlTligSorqzfTXtIQ/k2pahw=";
    const OTHER: &str = "r+7OveOXfKoak9u2usFnrwfzTGlpXAT3CbwcO5b99Ik=";

    #[test]
    fn seal_and_open_round_trip_bound_to_context() {
        let k = Keys::new(Some(KEY), None).unwrap();
        let s = k.seal(b"glpat-secret", "grant:1");
        assert!(!s.contains("glpat"));
        assert_eq!(k.open(&s, "grant:1").unwrap(), b"glpat-secret");
        assert_eq!(k.open(&s, "grant:2"), None, "moved to another record");
        assert_ne!(k.seal(b"x", "c"), k.seal(b"x", "c"), "random nonces");
        let mut tampered = s.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            k.open(std::str::from_utf8(&tampered).unwrap(), "grant:1"),
            None
        );
    }

    #[test]
    fn previous_key_opens_old_records() {
        let old = Keys::new(Some(OTHER), None).unwrap();
        let sealed = old.seal(b"t", "c");
        let rotated = Keys::new(Some(KEY), Some(OTHER)).unwrap();
        assert_eq!(rotated.open(&sealed, "c").unwrap(), b"t");
        assert_eq!(Keys::new(Some(KEY), None).unwrap().open(&sealed, "c"), None);
    }

    #[test]
    fn missing_short_and_weak_keys_are_refused() {
        assert!(matches!(Keys::new(None, None), Err(KeyError::Missing)));
        assert!(matches!(
            Keys::new(Some("  "), None),
            Err(KeyError::Missing)
        ));
        assert!(matches!(
            Keys::new(Some("c2hvcnQ="), None),
            Err(KeyError::Length(_, 5))
        ));
        assert!(matches!(
            Keys::new(Some("not base64!!"), None),
            Err(KeyError::Encoding(_))
        ));
        let zeros = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
        assert!(matches!(
            Keys::new(Some(&zeros), None),
            Err(KeyError::Weak(_))
        ));
        let err = Keys::new(Some("c2hvcnQ="), None).err().unwrap().to_string();
        assert!(
            !err.contains("c2hvcnQ"),
            "the key never appears in the error: {err}"
        );
    }

    #[test]
    fn pkce_s256() {
        // Expected value computed independently (Python hashlib + urlsafe base64).
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWXOEjXk";
        assert_eq!(
            pkce_challenge(v),
            "ixTXRNjcs2t268cvWnWX5VszIOQVHn11amyq8l3uFfA"
        );
        assert!(pkce_verify(
            v,
            "ixTXRNjcs2t268cvWnWX5VszIOQVHn11amyq8l3uFfA"
        ));
        assert!(!pkce_verify("short", &pkce_challenge("short")));
        assert!(!pkce_verify(
            v,
            "ixTXRNjcs2t268cvWnWX5VszIOQVHn11amyq8l3uFfX"
        ));
        let t = random_token("mcpg_at_");
        assert!(t.starts_with("mcpg_at_") && t.len() == 8 + 43);
        assert_eq!(hash_token("abc").len(), 64);
    }

    /// DoS06: every code, access and refresh token is 43 base64url characters that decode to
    /// 32 bytes (256 bits), and a thousand of them are all distinct and not constant-ish.
    #[test]
    fn dos06_tokens_carry_256_bits() {
        let mut seen = std::collections::HashSet::new();
        let mut ones = 0u32;
        for i in 0..1000 {
            let prefix = ["mcpg_code_", "mcpg_at_", "mcpg_rt_", ""][i % 4];
            let t = random_token(prefix);
            let body = t.strip_prefix(prefix).unwrap();
            assert_eq!(body.len(), 43, "{t}");
            assert!(
                body.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{t}"
            );
            let raw = B64URL.decode(body).unwrap();
            assert_eq!(raw.len(), 32);
            ones += raw.iter().map(|b| b.count_ones()).sum::<u32>();
            assert!(seen.insert(body.to_owned()), "repeated token {t}");
        }
        // 256 000 random bits: about half set (a stuck or zeroed generator fails this).
        assert!((120_000..136_000).contains(&ones), "{ones} bits set");
    }
}
