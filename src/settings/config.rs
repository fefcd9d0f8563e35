//! `loadforge-gate.yml`: project defaults plus named profiles (`smoke`, `load`, `stress`, ...),
//! so the same repository can run a light gate on merge requests and a heavy one on tags.
//!
//! Every field of [`Layer`]'s flags is a key that may appear at the top level and in a profile
//! ([`super::layer::config_keys`]), except the choices that belong to one job, not to the project
//! (`config`, `profile`, `shard`, `run_id`, `start_at`, `start_delay`), which are flags and
//! variables only.
//!
//! ```yaml
//! scenario: perf/shop.yml
//! host: https://staging.example.com
//! thresholds: ["p95<500ms", "error_rate<1%"]
//! profiles:
//!   smoke: {users: 5, run_time: 30s}
//!   stress: {users: 500, spawn_rate: 50, run_time: 10m}
//! ```

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{
    de::{self, MapAccess},
    Deserialize, Deserializer,
};

use super::{
    layer::{Entries, Key, Layer},
    SettingsError,
};

#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigFile {
    pub(crate) path: PathBuf,
    pub(crate) base: Layer,
    pub(crate) profiles: BTreeMap<String, Layer>,
}

impl ConfigFile {
    pub(crate) fn load(
        path: &Path,
        yaml: &crate::yaml::YamlBudget,
    ) -> Result<ConfigFile, SettingsError> {
        let text = crate::capped::read_text_file(path, crate::defaults::MAX_USER_FILE_BYTES)
            .map_err(|source| SettingsError::ConfigRead {
                path: path.to_path_buf(),
                source,
            })?;
        Self::parse_with(&text, path, yaml)
    }

    #[cfg(test)]
    pub(crate) fn parse(text: &str, path: &Path) -> Result<ConfigFile, SettingsError> {
        Self::parse_with(text, path, &crate::yaml::YamlBudget::default())
    }

    /// The config file's `text`, read within `yaml`'s budget.
    pub(crate) fn parse_with(
        text: &str,
        path: &Path,
        yaml: &crate::yaml::YamlBudget,
    ) -> Result<ConfigFile, SettingsError> {
        let bad = |section, source| SettingsError::ConfigParse {
            path: path.to_path_buf(),
            section,
            source,
        };
        let file: Option<FileShape> =
            crate::yaml::from_str_with(text, yaml).map_err(|e| bad(None, e))?;
        let FileShape::Mapping(split) = file.unwrap_or(FileShape::Mapping(Box::default())) else {
            return Err(SettingsError::ConfigShape {
                path: path.to_path_buf(),
            });
        };
        let Sections {
            mut base,
            mut profiles,
        } = *split;
        // Relative paths in the file are relative to the file, not to wherever the job runs.
        let dir = path.parent().unwrap_or(Path::new(""));
        let rebase = |l: &mut Layer| {
            let load = &mut l.load;
            for p in [&mut load.scenario, &mut load.locustfile]
                .into_iter()
                .flatten()
            {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            }
            // A bare command name (`locust`) is looked up on PATH; a path is the file's.
            let bin = load.locust_bin.as_mut();
            if let Some(bin) = bin.filter(|b| b.components().count() > 1 && b.is_relative()) {
                *bin = dir.join(&*bin);
            }
        };
        rebase(&mut base);
        profiles.values_mut().for_each(rebase);
        Ok(ConfigFile {
            path: path.to_path_buf(),
            base,
            profiles,
        })
    }

    /// The merged layer for a profile (or the base alone).
    pub(crate) fn layer(&self, profile: Option<&str>) -> Result<Layer, SettingsError> {
        match profile {
            None => Ok(self.base.clone()),
            Some(name) => match self.profiles.get(name) {
                Some(p) => Ok(p.clone().over(self.base.clone())),
                None => Err(SettingsError::UnknownProfile {
                    name: name.to_string(),
                    path: self.path.clone(),
                    known: if self.profiles.is_empty() {
                        "(none)".into()
                    } else {
                        self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                }),
            },
        }
    }
}

/// The file's top level: a mapping of settings, or anything else (refused by name).
enum FileShape {
    Mapping(Box<Sections>),
    Other,
}

/// The top-level mapping, `profiles` taken aside and the rest read as one [`Layer`], in one
/// pass over the document so every error keeps its line and column.
#[derive(Default)]
struct Sections {
    base: Layer,
    profiles: BTreeMap<String, Layer>,
}

impl<'de> Deserialize<'de> for FileShape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Shape)
    }
}

/// Tells a mapping of settings from anything else, and splits the mapping.
struct Shape;

impl<'de> de::Visitor<'de> for Shape {
    type Value = FileShape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping of settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileShape, A::Error> {
        let (mut entries, mut profiles) = (Entries::default(), None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name(name) if name == "profiles" => {
                    if profiles.is_some() {
                        return Err(de::Error::duplicate_field("profiles"));
                    }
                    // `profiles:` with nothing under it defines none.
                    let given: Option<BTreeMap<String, Layer>> = map.next_value()?;
                    profiles = Some(given.unwrap_or_default());
                }
                key => entries.take(key, &mut map)?,
            }
        }
        Ok(FileShape::Mapping(Box::new(Sections {
            base: entries.finish()?,
            profiles: profiles.unwrap_or_default(),
        })))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<FileShape, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(FileShape::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<FileShape, E> {
        Ok(FileShape::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FileShape, E> {
        Ok(FileShape::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FileShape, E> {
        Ok(FileShape::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FileShape, E> {
        Ok(FileShape::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FileShape, E> {
        Ok(FileShape::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_profiles_and_an_empty_profile_say_nothing() {
        for text in ["users: 3\nprofiles:\n", "users: 3\nprofiles: ~\n"] {
            let c = ConfigFile::parse(text, Path::new("c.yml")).unwrap();
            assert!(c.profiles.is_empty(), "{text}");
        }
        let c = ConfigFile::parse("users: 3\nprofiles:\n  smoke:\n", Path::new("c.yml")).unwrap();
        assert_eq!(c.layer(Some("smoke")).unwrap().load.users, Some(3));
    }

    #[test]
    fn a_bad_value_is_reported_at_its_own_line_and_column() {
        let text = "host: http://h\nrun_time: 30\nprofiles: {smoke: {users: lots}}\n";
        let e = ConfigFile::parse(text, Path::new("c.yml")).unwrap_err();
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(
            cause,
            "profiles.smoke: users: invalid type: string \"lots\", expected u32 at line 3, column 27"
        );
        let e = ConfigFile::parse("users: many\n", Path::new("c.yml")).unwrap_err();
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(cause.ends_with("at line 1, column 8"), "{cause}");
        let e = ConfigFile::parse("- a\n", Path::new("c.yml")).unwrap_err();
        assert!(matches!(e, SettingsError::ConfigShape { .. }), "{e}");
    }

    #[test]
    fn profile_overrides_base_and_paths_are_relative_to_the_file() {
        let c = ConfigFile::parse(
            "scenario: s.yml\nusers: 5\nprofiles:\n  stress: {users: 500}\n",
            Path::new("conf/loadforge-gate.yml"),
        )
        .unwrap();
        let l = c.layer(Some("stress")).unwrap();
        assert_eq!(l.load.users, Some(500));
        assert_eq!(l.load.scenario, Some(PathBuf::from("conf/s.yml")));
        assert_eq!(c.layer(None).unwrap().load.users, Some(5));
    }

    #[test]
    fn unknown_keys_and_profiles_are_errors() {
        let err = ConfigFile::parse("usres: 5\n", Path::new("c.yml")).unwrap_err();
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(cause.is_some_and(|c| c.contains("usres")), "{err:?}");
        let c = ConfigFile::parse("profiles: {smoke: {}}\n", Path::new("c.yml")).unwrap();
        let err = c.layer(Some("soak")).unwrap_err().to_string();
        assert!(err.contains("soak") && err.contains("smoke"), "{err}");
    }
}
