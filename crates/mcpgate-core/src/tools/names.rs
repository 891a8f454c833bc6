//! Tool and argument names that every client accepts.

use std::collections::HashSet;

/// Longest tool name clients accept.
pub(super) const MAX_NAME: usize = 64;

/// Turns any text into `^[A-Za-z0-9_-]{1,64}$`: other characters become `_` (runs collapsed),
/// and a name that is too long is cut and suffixed with a short hash of the original so that
/// distinct long names stay distinct and stable.
pub fn sanitize_tool_name(raw: &str) -> String {
    sanitize(raw, MAX_NAME, false)
}

/// Argument names: `^[A-Za-z0-9_.-]{1,64}$` (the strictest client rule seen).
pub(crate) fn sanitize_argument_name(raw: &str) -> String {
    sanitize(raw, MAX_NAME, true)
}

fn sanitize(raw: &str, max: usize, allow_dot: bool) -> String {
    let mut out = String::with_capacity(raw.len().min(max));
    let mut last_us = false;
    for c in raw.chars() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.');
        if ok {
            out.push(c);
            last_us = c == '_';
        } else if !last_us && !out.is_empty() {
            out.push('_');
            last_us = true;
        }
    }
    while out.ends_with('_') && out.len() > 1 {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("unnamed");
    }
    if out.len() > max {
        let hash = format!("{:08x}", fnv1a(raw.as_bytes()) as u32);
        out.truncate(max - 9);
        out.push('_');
        out.push_str(&hash);
    }
    out
}

/// Makes `name` unique within `taken` by appending `_2`, `_3`, … (shortening if needed).
pub(crate) fn unique(name: String, taken: &mut HashSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    for n in 2.. {
        let suffix = format!("_{n}");
        let mut base = name.clone();
        base.truncate(MAX_NAME - suffix.len());
        let candidate = base + &suffix;
        if taken.insert(candidate.clone()) {
            return candidate;
        }
    }
    unreachable!("the loop above always returns")
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (raw, want) in [
            ("getApiV4ProjectsId", "getApiV4ProjectsId"),
            ("pets/list all", "pets_list_all"),
            ("../x", "x"),
            ("", "unnamed"),
            ("Über-tool", "ber-tool"),
        ] {
            assert_eq!(sanitize_tool_name(raw), want, "{raw}");
        }
        let long = "a".repeat(300);
        let n = sanitize_tool_name(&long);
        assert_eq!(n.len(), 64);
        assert_ne!(n, sanitize_tool_name(&"a".repeat(301)));
        assert_eq!(
            sanitize_argument_name("X-GitHub-Api-Version"),
            "X-GitHub-Api-Version"
        );
        assert_eq!(sanitize_argument_name("created[gte]"), "created_gte");
    }

    #[test]
    fn unique_suffixes() {
        let mut taken = HashSet::new();
        assert_eq!(unique("a".into(), &mut taken), "a");
        assert_eq!(unique("a".into(), &mut taken), "a_2");
        assert_eq!(unique("a".into(), &mut taken), "a_3");
        let long = "b".repeat(64);
        assert_eq!(unique(long.clone(), &mut taken), long);
        assert_eq!(unique(long, &mut taken).len(), 64);
    }
}
