//! `docs/policy.md` lists every key of the policy type with its default and bounds, exactly as
//! the type and its validation rules have them: a key added, renamed, re-defaulted or re-bounded
//! without the doc fails here.

use std::collections::BTreeMap;

use posture_core::policy::validate::reference;

const DOC: &str = include_str!("../../../docs/policy.md");

/// Rows of the doc's key tables: key -> (default, bounds).
fn documented() -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    for line in DOC.lines() {
        let Some(rest) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = rest.split(" | ").collect();
        let key = cells[0].trim_end_matches('`').to_owned();
        assert!(
            cells.len() >= 3,
            "docs/policy.md: row for {key} lacks cells: {line}"
        );
        let previous = rows.insert(key.clone(), (cells[1].to_owned(), cells[2].to_owned()));
        assert!(previous.is_none(), "docs/policy.md: {key} listed twice");
    }
    rows
}

#[test]
fn the_doc_lists_every_key_with_its_default_and_bounds() {
    let mut rows = documented();
    for key in reference() {
        let (default, bounds) = rows
            .remove(&key.key)
            .unwrap_or_else(|| panic!("docs/policy.md has no row for `{}`", key.key));
        assert_eq!(
            default, key.default,
            "docs/policy.md: default of `{}`",
            key.key
        );
        assert_eq!(
            bounds, key.bounds,
            "docs/policy.md: bounds of `{}`",
            key.key
        );
    }
    assert!(
        rows.is_empty(),
        "docs/policy.md lists keys the policy does not have: {:?}",
        rows.keys().collect::<Vec<_>>()
    );
}
