//! One layer of settings: the command line, the config file's top level, or one of its
//! profiles. It is the command line's own two structs ([`LoadArgs`], [`JudgeArgs`]), so a flag
//! and its config key cannot drift apart; every field is optional, layers stack with
//! [`Layer::over`], and what is still unset at the bottom takes its value from
//! [`crate::defaults`].

use std::sync::OnceLock;

use serde::{
    de::{self, DeserializeOwned},
    Deserialize, Deserializer,
};

use serde_saphyr::Spanned;

use crate::cli::{JudgeArgs, LoadArgs};

/// Settings from one source; `None` means "this source does not say".
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    /// How the load is made.
    pub(crate) load: LoadArgs,
    /// How the result is judged and published.
    pub(crate) judge: JudgeArgs,
}

impl Layer {
    /// `self` wins where it has a value.
    pub(crate) fn over(self, below: Layer) -> Layer {
        Layer {
            load: self.load.over(below.load),
            judge: self.judge.over(below.judge),
        }
    }
}

/// Every key a config file (or one of its profiles) may hold: the fields of [`LoadArgs`] and
/// [`JudgeArgs`] that are not job-only, as serde reads them.
pub(crate) fn config_keys() -> &'static [&'static str] {
    static KEYS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = serde_fields::<LoadArgs>().to_vec();
        keys.extend_from_slice(serde_fields::<JudgeArgs>());
        keys
    })
}

/// A config file's mapping is split between the two structs by key; a key neither knows is
/// refused with every key it could have been. Each value is held with its place in the file
/// (serde-saphyr's `Spanned`) while the mapping is split, so a value that does not fit its
/// setting is reported at its own line and column.
impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Layer, D::Error> {
        d.deserialize_any(Split)
    }
}

/// The visitor that splits one mapping into the two halves of a [`Layer`].
struct Split;

impl<'de> de::Visitor<'de> for Split {
    type Value = Layer;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping of settings")
    }

    /// An empty profile (`smoke:` with nothing under it) says nothing.
    fn visit_unit<E: de::Error>(self) -> Result<Layer, E> {
        Ok(Layer::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Layer, E> {
        Ok(Layer::default())
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Layer, A::Error> {
        let mut entries = Entries::default();
        while let Some(key) = map.next_key::<Key>()? {
            entries.take(key, &mut map)?;
        }
        entries.finish()
    }
}

/// The entries of a mapping of settings, read one by one (a config file's top level reads
/// `profiles` itself and hands the rest here).
#[derive(Default)]
pub(crate) struct Entries {
    load: Half,
    judge: Half,
}

impl Entries {
    /// Reads the value of `key` from `map`: refused unless `key` names a setting.
    pub(crate) fn take<'de, A: de::MapAccess<'de>>(
        &mut self,
        key: Key,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let Key::Name(name) = key else {
            return Err(de::Error::custom("a key must be a setting's name"));
        };
        let Some(&name) = config_keys().iter().find(|k| **k == name) else {
            return Err(de::Error::unknown_field(&name, config_keys()));
        };
        let value: Spanned<serde_json::Value> = map.next_value()?;
        let half = if serde_fields::<LoadArgs>().contains(&name) {
            &mut self.load
        } else {
            &mut self.judge
        };
        half.places.push((name, value.referenced));
        half.values.insert(name.to_string(), value.value);
        Ok(())
    }

    /// The layer the entries make.
    pub(crate) fn finish<E: de::Error>(self) -> Result<Layer, E> {
        Ok(Layer {
            load: self.load.read()?,
            judge: self.judge.read()?,
        })
    }
}

/// A key of the mapping: a setting's name, or something that cannot be one.
pub(crate) enum Key {
    Name(String),
    NotText,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(match v {
            serde_json::Value::String(s) => Key::Name(s),
            _ => Key::NotText,
        })
    }
}

/// The values of one half, with where each stood.
#[derive(Default)]
struct Half {
    values: serde_json::Map<String, serde_json::Value>,
    places: Vec<(&'static str, serde_saphyr::Location)>,
}

impl Half {
    /// The half as its struct; a value that does not fit says which key, and where.
    fn read<T: DeserializeOwned, E: de::Error>(self) -> Result<T, E> {
        let value = serde_json::Value::Object(self.values);
        serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e
                .path()
                .iter()
                .next()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let place = self
                .places
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, at)| format!(" at line {}, column {}", at.line(), at.column()))
                .unwrap_or_default();
            let path = e.path().to_string();
            E::custom(format!("{path}: {}{place}", e.into_inner()))
        })
    }
}

/// The field names serde's derive gives `T` (skipped fields left out): `T` is asked to
/// deserialize itself from a deserializer that only records the names it asks for.
fn serde_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Fields(&'static [&'static str]);
    impl std::fmt::Display for Fields {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for Fields {}
    impl de::Error for Fields {
        fn custom<M: std::fmt::Display>(_: M) -> Fields {
            Fields(&[])
        }
    }
    struct Probe;
    impl<'de> Deserializer<'de> for Probe {
        type Error = Fields;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Fields> {
            Err(Fields(&[]))
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Fields> {
            Err(Fields(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Fields(fields)) => fields,
        Ok(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upper_layer_wins_and_gaps_fall_through() {
        let mut top = Layer::default();
        top.load.users = Some(5);
        let mut below = Layer::default();
        below.load.users = Some(50);
        below.load.host = Some("http://h".into());
        below.judge.baseline = Some("none".into());
        let l = top.over(below);
        assert_eq!(l.load.users, Some(5));
        assert_eq!(l.load.host.as_deref(), Some("http://h"));
        assert_eq!(l.judge.baseline.as_deref(), Some("none"));
    }

    #[test]
    fn durations_may_be_bare_numbers_in_yaml() {
        let l: Layer = crate::yaml::from_str("run_time: 30\nramp: 5s\nmax_wait: ~\n").unwrap();
        assert_eq!(l.load.run_time.as_deref(), Some("30"));
        assert_eq!(l.load.ramp.as_deref(), Some("5s"));
        assert_eq!(l.load.max_wait, None);
    }

    /// The keys are the flags' fields, both structs, job-only ones left out.
    #[test]
    fn the_config_keys_are_the_fields_that_are_not_job_only() {
        let keys = config_keys();
        for key in [
            "engine",
            "warmup",
            "insecure",
            "thresholds",
            "no_proxy",
            "out",
            "target_id",
            "compare_host",
            "paired_slice",
            "paired_turn",
            "http2",
        ] {
            assert!(keys.contains(&key), "{key}: {keys:?}");
        }
        for job_only in [
            "shard",
            "run_id",
            "start_at",
            "start_delay",
            "config",
            "profile",
        ] {
            assert!(!keys.contains(&job_only), "{job_only}");
        }
        assert_eq!(keys.len(), 46, "{keys:?}");
    }

    #[test]
    fn both_halves_of_a_file_layer_are_read_and_a_job_only_key_is_refused() {
        let l: Layer =
            crate::yaml::from_str("users: 3\ncomment: never\ninsecure: false\n").unwrap();
        assert_eq!(l.load.users, Some(3));
        assert_eq!(l.load.insecure, Some(false));
        assert_eq!(l.judge.comment, Some(crate::cli::CommentArg::Never));
        for text in ["shard: 1/2\n", "profile: smoke\n", "usres: 5\n"] {
            let err = crate::yaml::from_str::<Layer>(text)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("unknown field") && err.contains("no_proxy"),
                "{text}: {err}"
            );
        }
        let err = crate::yaml::from_str::<Layer>("users: many\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid type"), "{err}");
    }
}
