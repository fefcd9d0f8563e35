//! Whether two runs' targets are one system although their addresses differ from pipeline to
//! pipeline. A review app per branch or merge request (`https://mr-42.example.com`) is built from
//! a per-pipeline CI variable: the run records which variables' values stand in its host
//! ([`ci_values_in_host`]), and two origins are one target when they read alike once each run's
//! own values are written as placeholders ([`one_system`]): `https://mr-$CI_MERGE_REQUEST_IID
//! .example.com` for both `mr-42` and `mr-57`.
//!
//! The rule for which values are taken out, and why:
//! - **Whole parts only.** A value counts where it stands between the host's start, a `.` or a
//!   `-` and its end, a `.` or a `-`: `main` is a part of `review-main.example.com`, never of
//!   `domain.example.com`, and the merge request `1` is no part of `app1` or `v1`.
//! - **Two characters or more**, lowercase letters, digits, `-` and `.`, starting and ending with
//!   a letter or a digit, at most a DNS name long. One character is a part of many hosts by
//!   chance (`eu-1`, `node-2`, `a.example.com`), and GitLab's small numbers (a young project's
//!   merge request `7`, the runner's `CI_CONCURRENT_ID` `0`) are one digit: those hosts compare
//!   as they are, and a team names them one system with `--target-id`. An empty value, a name
//!   with `/` (`CI_COMMIT_REF_NAME` of `feature/x`) or a value longer than a host never counts.
//! - **Never in an IP address.** `127.0.0.1` holds the parts `0` and `1` and `10.0.0.42` the
//!   part `42`, but no address is made of a pipeline's names.
//! - **A placeholder matches only itself.** `$CI_MERGE_REQUEST_IID` in one run's host matches
//!   `$CI_MERGE_REQUEST_IID` at the same place in the other's, never another variable or a
//!   literal part, so a value that is a part of the host by chance must be so in both runs, at
//!   the same place, for the two hosts to be taken as one. Placeholders are upper case and an
//!   origin's host is lower case, so no host can spell one.
//! - A value that stands in the host several times may be the variable at any of those places
//!   (`review-example.example.com` of the branch `example`): every way is tried, up to
//!   [`MAX_FORMS`] per host.

use std::collections::{BTreeMap, BTreeSet};

/// The shortest value taken out of a host (see the module's rule).
const MIN_VALUE: usize = 2;
/// The longest value taken out of a host: the longest DNS name.
pub(super) const MAX_VALUE: usize = 253;
/// The most ways one host is written with placeholders: beyond them (a value standing in the
/// host many times, under many variables) the rest are not tried, and the hosts may then
/// compare as different, never as the same by mistake.
const MAX_FORMS: usize = 256;
/// The most variables one run records: GitLab has about a dozen per-pipeline ones.
pub(super) const MAX_VARIABLES: usize = 16;

/// Whether `value` may be taken out of a host: see the module's rule.
pub(super) fn takes_out(value: &str) -> bool {
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (MIN_VALUE..=MAX_VALUE).contains(&value.len())
        && value.bytes().all(host_byte)
        && alnum(value.bytes().next())
        && alnum(value.bytes().last())
}

/// A byte an origin's host name is made of (as [`super::origin`] writes it: lower case).
pub(super) fn host_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
}

/// The per-pipeline variables (`(name, value)`, as the pipeline set them) whose values stand in
/// `origin`'s host as whole parts, each value in lower case as the host holds it. Only these
/// are recorded: a value that is not in the host says nothing of the target.
pub(crate) fn ci_values_in_host(origin: &str, vars: &[(&str, String)]) -> BTreeMap<String, String> {
    let Some((_, host, _)) = split(origin) else {
        return BTreeMap::new();
    };
    let parts = tokens(host);
    vars.iter()
        .map(|(name, value)| (name, value.to_ascii_lowercase()))
        .filter(|(_, value)| {
            takes_out(value) && (0..parts.len()).any(|at| whole_part(&parts, at, value).is_some())
        })
        .take(MAX_VARIABLES)
        .map(|(name, value)| (name.to_string(), value))
        .collect()
}

/// Whether `a` and `b` (origins, each with the variables its run recorded) name one system:
/// some way of writing each with its own values as placeholders reads the same.
pub(super) fn one_system(
    a: (&str, &BTreeMap<String, String>),
    b: (&str, &BTreeMap<String, String>),
) -> bool {
    if a.0 == b.0 {
        return true;
    }
    let forms_a: BTreeSet<String> = forms(a.0, a.1).into_iter().collect();
    forms(b.0, b.1).iter().any(|f| forms_a.contains(f))
}

/// `origin` as it is, then with the values of `vars` written as `$NAME`, at every combination of
/// the places they stand (up to [`MAX_FORMS`]; the first is always `origin` itself).
fn forms(origin: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let Some((scheme, host, port)) = split(origin) else {
        return vec![origin.to_string()];
    };
    let parts = tokens(host);
    let usable: Vec<(&String, &String)> = vars.iter().filter(|(_, v)| takes_out(v)).collect();
    let mut done = Vec::new();
    // Depth first, the literal part pushed last so it is taken first: `origin` itself comes out
    // first, and the walk is the same on every machine.
    let mut partial = vec![(0usize, String::new())];
    while let Some((at, written)) = partial.pop() {
        let Some(part) = parts.get(at) else {
            done.push(format!("{scheme}://{written}{port}"));
            if done.len() == MAX_FORMS {
                break;
            }
            continue;
        };
        for (name, value) in &usable {
            if let Some(end) = whole_part(&parts, at, value) {
                partial.push((end, format!("{written}${name}")));
            }
        }
        partial.push((at + 1, format!("{written}{part}")));
    }
    done
}

/// `scheme`, host and `:port` (or empty) of an origin; `None` when the host is an IP address
/// or the text is no origin.
fn split(origin: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = origin.split_once("://")?;
    if rest.starts_with('[') {
        return None;
    }
    let (host, port) = match rest.rfind(':') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

/// The host cut before and after every `.` and `-`: its parts and the separators between them,
/// in order (`review-main.example.com` is `review`, `-`, `main`, `.`, ...).
fn tokens(host: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in host.split_inclusive(['.', '-']) {
        match piece.len().checked_sub(1).map(|i| piece.split_at(i)) {
            Some((part, sep)) if sep == "." || sep == "-" => {
                out.extend((!part.is_empty()).then_some(part));
                out.push(sep);
            }
            _ => out.push(piece),
        }
    }
    out
}

fn is_separator(token: &str) -> bool {
    token == "." || token == "-"
}

/// Where `value` ends (the index of the token after it) when it starts at token `at` and spans
/// whole parts: it starts at a part and ends at the end of one.
fn whole_part(tokens: &[&str], at: usize, value: &str) -> Option<usize> {
    if tokens.get(at).is_none_or(|t| is_separator(t)) {
        return None;
    }
    let mut rest = value;
    for (i, token) in tokens.iter().enumerate().skip(at) {
        rest = rest.strip_prefix(token)?;
        if rest.is_empty() {
            return (!is_separator(token)).then_some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
        pairs.iter().map(|(n, v)| (*n, v.to_string())).collect()
    }

    /// A run against `origin` in a pipeline whose variables are `pairs`: what it records.
    fn run(origin: &str, pairs: &[(&str, &str)]) -> (String, BTreeMap<String, String>) {
        (origin.into(), ci_values_in_host(origin, &vars(pairs)))
    }

    fn same(
        a: &(String, BTreeMap<String, String>),
        b: &(String, BTreeMap<String, String>),
    ) -> bool {
        one_system((&a.0, &a.1), (&b.0, &b.1))
    }

    #[test]
    fn the_host_is_cut_into_parts_and_separators() {
        assert_eq!(
            tokens("review-main.example.com"),
            ["review", "-", "main", ".", "example", ".", "com"]
        );
        assert_eq!(tokens("a--b"), ["a", "-", "-", "b"]);
        assert_eq!(tokens("x"), ["x"]);
        assert!(tokens("").is_empty());
    }

    /// The defect on main: a review app per merge request was never comparable.
    #[test]
    fn review_apps_per_merge_request_are_one_target() {
        let a = run(
            "https://mr-42.example.com",
            &[("CI_MERGE_REQUEST_IID", "42")],
        );
        let b = run(
            "https://mr-57.example.com",
            &[("CI_MERGE_REQUEST_IID", "57")],
        );
        assert_eq!(
            a.1,
            BTreeMap::from([("CI_MERGE_REQUEST_IID".into(), "42".into())])
        );
        assert!(same(&a, &b));
        // Another domain, another port, another scheme: another target.
        for other in [
            run("https://mr-57.other.com", &[("CI_MERGE_REQUEST_IID", "57")]),
            run(
                "https://mr-57.example.com:8443",
                &[("CI_MERGE_REQUEST_IID", "57")],
            ),
            run(
                "http://mr-57.example.com",
                &[("CI_MERGE_REQUEST_IID", "57")],
            ),
            run(
                "https://pr-57.example.com",
                &[("CI_MERGE_REQUEST_IID", "57")],
            ),
        ] {
            assert!(!same(&a, &other), "{}", other.0);
        }
    }

    /// Every per-pipeline variable GitLab sets is taken out alike; a placeholder matches only
    /// the same variable.
    #[test]
    fn each_per_pipeline_value_is_taken_out_and_matches_only_itself() {
        for (name, a, b) in [
            ("CI_COMMIT_REF_SLUG", "feature-x", "main"),
            ("CI_COMMIT_REF_NAME", "Feature-X", "main"),
            ("CI_ENVIRONMENT_SLUG", "review-feature-x", "staging"),
            ("CI_COMMIT_SHORT_SHA", "1a2b3c4d", "5e6f7a8b"),
            ("CI_COMMIT_SHA", &"1a".repeat(20), &"5e".repeat(20)),
            ("CI_PIPELINE_ID", "1234567", "1234999"),
            ("CI_PIPELINE_IID", "812", "813"),
            ("CI_JOB_ID", "99887766", "99887799"),
            ("CI_CONCURRENT_ID", "12", "13"),
        ] {
            let host = |v: &str| format!("https://app-{}.review.example.com", v.to_lowercase());
            let x = run(&host(a), &[(name, a)]);
            let y = run(&host(b), &[(name, b)]);
            assert!(same(&x, &y), "{name}");
            let z = run(&host(b), &[("CI_OTHER", b)]);
            assert!(!same(&x, &z), "{name} matched another variable");
        }
    }

    /// Values as hostile as a pipeline may set them: only whole parts, never a single
    /// character, never an empty or over-long value, never a value a host cannot hold, never
    /// in an IP address.
    #[test]
    fn only_whole_parts_of_two_characters_or_more_are_taken_out() {
        let found = |origin: &str, value: &str| {
            !ci_values_in_host(origin, &vars(&[("CI_X", value)])).is_empty()
        };
        assert!(
            !found("https://staging.example.com", "a"),
            "a letter inside a word"
        );
        assert!(!found("https://staging.example.com", "ta"), "inside a word");
        assert!(found("https://staging.example.com", "staging"));
        assert!(
            !found("https://app1.example.com", "1"),
            "a digit inside a part"
        );
        assert!(!found("https://app-1.example.com", "1"), "one character");
        assert!(found("https://app-12.example.com", "12"));
        assert!(
            !found("https://app-123.example.com", "12"),
            "a prefix of a part"
        );
        assert!(!found("https://app-12.example.com", ""), "empty");
        assert!(!found("https://feature-x.example.com", "feature/x"));
        assert!(!found("https://feature-x.example.com", "-feature-x"));
        assert!(!found("https://x.example.com", "BAD SLUG"));
        assert!(!found(
            &format!("https://{}.com", "a".repeat(300)),
            &"a".repeat(300)
        ));
        assert!(
            found("https://v1.2.example.com", "v1.2"),
            "a value with a dot"
        );
        assert!(
            found("https://review-feature-x.example.com", "Feature-X"),
            "DNS ignores case"
        );
        // Addresses are no names: 10.0.0.42 holds the part 42, [::1] the part 1.
        assert!(!found("http://10.0.0.42:8080", "42"));
        assert!(!found("http://127.0.0.12", "12"));
        assert!(!found("http://[::12]:8080", "12"));
        assert!(!found("not an origin", "an"));
        // The whole host may be the value.
        assert!(found("http://feature-x:8080", "feature-x"));
    }

    /// A value that is a part of the host by chance in one run is no placeholder in the other:
    /// the hosts stay different.
    #[test]
    fn a_chance_part_in_one_run_alone_does_not_make_one_target() {
        let main = run("https://eu-12.example.com", &[("CI_CONCURRENT_ID", "7")]);
        let mr = run("https://eu-13.example.com", &[("CI_CONCURRENT_ID", "13")]);
        assert!(!same(&main, &mr));
        // A value in a run that did not build its host from it is harmless when the hosts are
        // the same: they are equal as they are.
        let mr = run("https://eu-12.example.com", &[("CI_CONCURRENT_ID", "12")]);
        assert!(same(&main, &mr));
    }

    /// The value may stand in the host more than once: any one place, or all, may be the
    /// variable's.
    #[test]
    fn a_value_standing_twice_is_tried_at_each_place() {
        let main = run(
            "https://review-main.example.com",
            &[("CI_COMMIT_REF_SLUG", "main")],
        );
        let example = run(
            "https://review-example.example.com",
            &[("CI_COMMIT_REF_SLUG", "example")],
        );
        assert!(same(&main, &example));
        let both = run(
            "https://main.main.example.com",
            &[("CI_COMMIT_REF_SLUG", "main")],
        );
        let x = run(
            "https://x-y.x-y.example.com",
            &[("CI_COMMIT_REF_SLUG", "x-y")],
        );
        assert!(same(&both, &x));
    }

    /// Two variables of one value (the slug and the environment's slug): either name is tried.
    #[test]
    fn two_variables_of_one_value_are_each_tried() {
        let main = run(
            "https://main.example.com",
            &[
                ("CI_COMMIT_REF_SLUG", "main"),
                ("CI_ENVIRONMENT_SLUG", "main"),
            ],
        );
        let mr = run(
            "https://review-x.example.com",
            &[("CI_ENVIRONMENT_SLUG", "review-x")],
        );
        assert!(same(&main, &mr));
    }

    /// A host with a value at very many places, under many names, is tried up to the cap and
    /// stays quick; the origin itself is always tried.
    #[test]
    fn a_host_of_many_places_is_tried_up_to_the_cap() {
        let host = format!("https://{}example.com", "ab-".repeat(60));
        let names: Vec<String> = (0..MAX_VARIABLES).map(|i| format!("CI_V{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "ab")).collect();
        let recorded = ci_values_in_host(&host, &vars(&pairs));
        assert_eq!(recorded.len(), MAX_VARIABLES);
        let all = forms(&host, &recorded);
        assert_eq!(all.len(), MAX_FORMS);
        assert_eq!(all[0], host);
        assert!(one_system((&host, &recorded), (&host, &BTreeMap::new())));
    }
}
