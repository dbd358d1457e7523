//! Which repositories and tags a registry source crawls: repository globs and the tag
//! selection (newest semver tag plus `latest` by default).

use std::cmp::Ordering;

/// Which tags of a repository a registry source indexes.
///
/// In configuration files it reads as `"newest"` (the default), `"all"`, or a list of tag
/// globs (`["1.*", "stable"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "TagSelectionRepr", into = "TagSelectionRepr")]
pub enum TagSelection {
    /// The newest semver tag (`1.2.3` or `v1.2.3`; the newest release, or the newest
    /// pre-release when there is no release) plus
    /// `latest` when it exists. A repository with neither has all its tags indexed, so that a
    /// repository tagged `main` or by date is not silently skipped.
    #[default]
    NewestAndLatest,
    /// Every tag.
    All,
    /// Tags matching any of these globs (`*`, `?`; a literal tag is a glob too).
    Matching(Vec<String>),
}

#[derive(serde::Deserialize, serde::Serialize)]
#[serde(untagged)]
enum TagSelectionRepr {
    Word(String),
    Globs(Vec<String>),
}

impl TryFrom<TagSelectionRepr> for TagSelection {
    type Error = String;
    fn try_from(r: TagSelectionRepr) -> Result<Self, String> {
        match r {
            TagSelectionRepr::Word(w) if w == "newest" => Ok(TagSelection::NewestAndLatest),
            TagSelectionRepr::Word(w) if w == "all" => Ok(TagSelection::All),
            TagSelectionRepr::Word(w) => Err(format!(
                "tags = {w:?}: expected \"newest\", \"all\" or a list of tag globs"
            )),
            TagSelectionRepr::Globs(g) => Ok(TagSelection::Matching(g)),
        }
    }
}

impl From<TagSelection> for TagSelectionRepr {
    fn from(t: TagSelection) -> Self {
        match t {
            TagSelection::NewestAndLatest => TagSelectionRepr::Word("newest".into()),
            TagSelection::All => TagSelectionRepr::Word("all".into()),
            TagSelection::Matching(g) => TagSelectionRepr::Globs(g),
        }
    }
}

impl TagSelection {
    /// The tags to crawl out of `tags` (in the order given, without duplicates).
    pub fn select(&self, tags: &[String]) -> Vec<String> {
        let mut out: Vec<String> = match self {
            TagSelection::All => tags.to_vec(),
            TagSelection::Matching(globs) => tags
                .iter()
                .filter(|t| globs.iter().any(|g| glob_matches(g, t)))
                .cloned()
                .collect(),
            TagSelection::NewestAndLatest => {
                // Releases first: a `2.0.0-rc.1` is not what "newest" should pick over `1.10.0`.
                let newest = tags
                    .iter()
                    .filter_map(|t| Semver::parse(t).map(|v| (v.pre.is_empty(), v, t)))
                    .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
                    .map(|(_, _, t)| t.clone());
                let latest = tags
                    .iter()
                    .find(|t| *t == crate::reference::DEFAULT_TAG)
                    .cloned();
                match (newest, latest) {
                    (None, None) => tags.to_vec(),
                    (n, l) => n.into_iter().chain(l).collect(),
                }
            }
        };
        let mut seen = std::collections::HashSet::new();
        out.retain(|t| seen.insert(t.clone()));
        out
    }
}

/// Glob match for repository and tag names: `*` matches any run of characters except `/`,
/// `**` any run including `/`, `?` one character other than `/`. Everything else is literal.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p {
            [] => n.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=n.len()).any(|i| go(rest, &n[i..])),
            [b'*', rest @ ..] => {
                let stop = n.iter().position(|c| *c == b'/').unwrap_or(n.len());
                (0..=stop).any(|i| go(rest, &n[i..]))
            }
            [b'?', rest @ ..] => matches!(n, [c, ..] if *c != b'/') && go(rest, &n[1..]),
            [c, rest @ ..] => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// True when `pattern` has no glob metacharacters: it names one repository.
pub fn is_literal(pattern: &str) -> bool {
    !pattern.contains(['*', '?'])
}

/// A semantic version, ordered by the semver 2.0 precedence rules (build metadata ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Semver {
    core: (u64, u64, u64),
    pre: Vec<String>,
}

impl Semver {
    /// `1.2.3`, `v1.2.3`, `1.2.3-rc.1`, `1.2.3+build`.
    fn parse(tag: &str) -> Option<Semver> {
        let t = tag.strip_prefix('v').unwrap_or(tag);
        let t = t.split('+').next()?;
        let (core, pre) = match t.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (t, None),
        };
        let mut parts = core.split('.');
        let mut num = || -> Option<u64> {
            let p = parts.next()?;
            (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
        };
        let v = (num()?, num()?, num()?);
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            Some("") => return None,
            Some(p) => p.split('.').map(str::to_string).collect(),
            None => Vec::new(),
        };
        Some(Semver { core: v, pre })
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs() {
        assert!(glob_matches("components/*", "components/hello"));
        assert!(!glob_matches("components/*", "components/a/b"));
        assert!(glob_matches("components/**", "components/a/b"));
        assert!(glob_matches("acme/tz", "acme/tz"));
        assert!(!glob_matches("acme/tz", "acme/tzz"));
        assert!(glob_matches("acme/t?", "acme/tz"));
        assert!(glob_matches("*", "hello"));
        assert!(!glob_matches("*", "a/b"));
        assert!(glob_matches("v1.*", "v1.2.3"));
        assert!(is_literal("acme/tz") && !is_literal("acme/*"));
    }

    #[test]
    fn default_selection_is_newest_semver_and_latest() {
        let sel = TagSelection::default();
        assert_eq!(
            sel.select(&tags(&[
                "0.9.0",
                "1.10.0",
                "1.2.0",
                "latest",
                "main",
                "2.0.0-rc.1"
            ])),
            tags(&["1.10.0", "latest"])
        );
        assert_eq!(
            sel.select(&tags(&[
                "v1.0.0",
                "v1.0.0-alpha",
                "1.0.0-beta.2",
                "1.0.0-beta.11"
            ])),
            tags(&["v1.0.0"])
        );
        assert_eq!(
            sel.select(&tags(&["1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-alpha"])),
            tags(&["1.0.0-beta.11"])
        );
        assert_eq!(sel.select(&tags(&["latest"])), tags(&["latest"]));
        assert_eq!(sel.select(&tags(&["main", "dev"])), tags(&["main", "dev"]));
        assert_eq!(sel.select(&[]), Vec::<String>::new());
    }

    #[test]
    fn other_selections() {
        let all = tags(&["1.0.0", "latest", "main"]);
        assert_eq!(TagSelection::All.select(&all), all);
        assert_eq!(
            TagSelection::Matching(vec!["1.*".into(), "main".into()]).select(&all),
            tags(&["1.0.0", "main"])
        );
    }

    #[test]
    fn reads_from_config() {
        let read = |s: &str| serde_json::from_str::<TagSelection>(s);
        assert_eq!(read(r#""newest""#).unwrap(), TagSelection::NewestAndLatest);
        assert_eq!(read(r#""all""#).unwrap(), TagSelection::All);
        assert_eq!(
            read(r#"["1.*", "stable"]"#).unwrap(),
            TagSelection::Matching(vec!["1.*".into(), "stable".into()])
        );
        let err = read(r#""everything""#).unwrap_err().to_string();
        assert!(err.contains("everything"), "{err}");
        assert_eq!(
            serde_json::to_string(&TagSelection::default()).unwrap(),
            r#""newest""#
        );
    }

    #[test]
    fn semver_parsing() {
        assert!(Semver::parse("1.2").is_none());
        assert!(Semver::parse("1.2.3.4").is_none());
        assert!(Semver::parse("1.2.x").is_none());
        assert!(Semver::parse("latest").is_none());
        assert!(Semver::parse("1.2.3-").is_none());
        assert_eq!(Semver::parse("v1.2.3+build.5").unwrap().core, (1, 2, 3));
    }
}
