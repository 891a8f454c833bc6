//! "Did you mean" suggestions by string similarity.

/// Up to `max` candidates closest to `word`, best first; weak matches are left out.
pub(crate) fn closest<'a, I>(word: &str, candidates: I, max: usize) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_ascii_lowercase();
    let mut scored: Vec<(f64, &'a str)> = candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let cl = c.to_ascii_lowercase();
            let lev = strsim::normalized_damerau_levenshtein(&lower, &cl);
            let jw = strsim::jaro_winkler(&lower, &cl);
            (lev.max(jw - 0.15), c)
        })
        .filter(|(score, _)| *score >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(max).map(|(_, c)| c).collect()
}

/// `; did you mean `a`, `b` or `c`?`, or an empty string when there is nothing close.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I, max: usize) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let found = closest(word, candidates, max);
    match found.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|c| format!("`{c}`")).collect();
            format!("; did you mean {} or `{last}`?", init.join(", "))
        }
    }
}

/// Whether `name` is a valid environment variable name (`^[A-Za-z_][A-Za-z0-9_]*$`).
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("requird", ["required", "required_for", "type"], 1),
            "; did you mean `required`?"
        );
        assert_eq!(did_you_mean("zzz", ["required", "type"], 3), "");
        let ops = ["getApiV4Projects", "getApiV4ProjectsId", "getApiV4Groups"];
        assert_eq!(
            closest("getApiV4ProjectId", ops, 3).first().copied(),
            Some("getApiV4ProjectsId")
        );
    }

    #[test]
    fn env_names() {
        assert!(is_env_name("API_BASE_URL"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("A-B"));
    }
}
