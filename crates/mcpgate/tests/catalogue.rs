//! `docs/security-tests.md` maps every row of the security catalogue to the tests that cover
//! it. This keeps the map honest: every `file::test` it names must exist, and (when the shared
//! catalogue is checked out beside the repository) every catalogue id must have a line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::needless_pass_by_value
)]

use std::path::PathBuf;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn map() -> String {
    std::fs::read_to_string(repo_root().join("docs/security-tests.md")).unwrap()
}

/// Every `` `path.rs::name` `` span in the map.
fn references(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.split_once(".rs::"))
        .map(|(path, name)| (format!("{path}.rs"), name.to_owned()))
        .collect()
}

/// The id at the start of a map line (`- OA01 → …`).
fn line_id(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("- ")?;
    let (id, _) = rest.split_once(' ')?;
    is_id(id).then_some(id)
}

fn is_id(word: &str) -> bool {
    let letters = word.trim_end_matches(|c: char| c.is_ascii_digit());
    letters.len() < word.len()
        && ["OA", "TR", "UB", "SP", "UF", "DoS", "SL", "MR"].contains(&letters)
}

#[test]
fn every_test_the_map_names_exists() {
    let text = map();
    let refs = references(&text);
    assert!(refs.len() > 80, "only {} references", refs.len());
    let root = repo_root();
    let mut missing = Vec::new();
    for (path, name) in &refs {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "`{path}::{name}` is not a test name"
        );
        let source = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        if !source.contains(&format!("fn {name}(")) {
            missing.push(format!("{path}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "named in docs/security-tests.md but not found: {missing:#?}"
    );
}

#[test]
fn every_map_line_says_covered_or_why_not() {
    for line in map().lines().filter(|l| line_id(l).is_some()) {
        let (_, rest) = line
            .split_once(" → ")
            .unwrap_or_else(|| panic!("no arrow: {line}"));
        assert!(
            !references(rest).is_empty() || rest.starts_with("not covered: "),
            "neither a test nor a reason: {line}"
        );
    }
}

#[test]
fn every_catalogue_row_has_a_line() {
    let catalogue = repo_root().join("../shared/docs/security-catalogue.md");
    let Ok(catalogue) = std::fs::read_to_string(catalogue) else {
        return; // the shared catalogue is not checked out here
    };
    let text = map();
    let mapped: Vec<&str> = text.lines().filter_map(line_id).collect();
    let rows: Vec<&str> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split_once(' ').map(|(id, _)| id))
        .filter(|id| is_id(id))
        .collect();
    assert!(rows.len() >= 80, "{} rows", rows.len());
    let absent: Vec<_> = rows.iter().filter(|id| !mapped.contains(id)).collect();
    assert!(
        absent.is_empty(),
        "catalogue rows without a line: {absent:?}"
    );
    let mut seen = std::collections::HashSet::new();
    for id in &mapped {
        assert!(seen.insert(id), "{id} has two lines");
    }
}
