//! A word of a closed set read from a file someone else wrote: a load model, a check's state, a
//! protocol, an endpoint's presence in a results file of a previous pipeline. serde's derived
//! reader puts a word it does not know into its error as the file wrote it, newlines, terminal
//! escapes and all, at any length, and that error reaches the job's log and the merge-request
//! note. This reader refuses it [quoted](super::quote) instead, one line and bounded, beside
//! the words it knows. Each type keeps its derived `Serialize` (its words are what that writes)
//! and reads through [`words!`].

use std::fmt;

use serde::{de, Deserializer, Serialize};

/// Reads one of `all`, each known by the word it serializes to; `what` names the field in the
/// error: ``load model `x\n` is not one this version reads (`closed` or `open`)``.
pub(crate) fn read<'de, D, T>(d: D, what: &'static str, all: &'static [T]) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Serialize + Copy + 'static,
{
    d.deserialize_str(Words { what, all })
}

struct Words<T: 'static> {
    what: &'static str,
    all: &'static [T],
}

impl<T: Serialize + Copy> de::Visitor<'_> for Words<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.what, listed(self.all))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        let known = self.all.iter().find(|w| word(*w).as_deref() == Some(v));
        known.copied().ok_or_else(|| {
            E::custom(format!(
                "{} `{}` is not one this version reads ({})",
                self.what,
                super::quote(v),
                listed(self.all)
            ))
        })
    }
}

/// The word `w` is written as: `None` for what is no unit variant (a misuse the type's tests
/// catch, as the word is then never read).
fn word<T: Serialize>(w: &T) -> Option<String> {
    match serde_json::to_value(w) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// `` `a` ``, `` `a` or `b` ``, `` `a`, `b` or `c` ``.
fn listed<T: Serialize>(all: &[T]) -> String {
    let words: Vec<String> = all
        .iter()
        .filter_map(word)
        .map(|w| format!("`{w}`"))
        .collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `Deserialize` for an enum of unit variants, through [`read`]: `words!(LoadModel, "load
/// model", [LoadModel::Closed, LoadModel::Open])`. Every variant must be listed: the match
/// the macro writes does not compile otherwise, so a variant added later cannot go unread.
macro_rules! words {
    ($ty:ty, $what:literal, [$($variant:path),+ $(,)?]) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                /// Fails to compile when a variant is missing from the list.
                const fn every(w: $ty) {
                    match w {
                        $($variant)|+ => {}
                    }
                }
                let _ = every;
                $crate::quote::word::read(d, $what, &[$($variant),+])
            }
        }
    };
}
pub(crate) use words;

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Clone, Copy, PartialEq, Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Colour {
        DarkRed,
        Blue,
        #[serde(rename = "")]
        Plain,
    }
    words!(
        Colour,
        "colour",
        [Colour::DarkRed, Colour::Blue, Colour::Plain]
    );

    #[test]
    fn each_word_reads_back_as_written() {
        for c in [Colour::DarkRed, Colour::Blue, Colour::Plain] {
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Colour>(&text).unwrap(), c);
        }
    }

    /// A hostile word is quoted: one line, escapes neutralised, cut to the quoting's bound;
    /// the known words are listed. Not a string is refused with them too.
    #[test]
    fn another_word_is_refused_quoted_and_bounded() {
        let e = serde_json::from_str::<Colour>(r#""x\n\u001b[31mred""#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                r"colour `x\n\u{1b}[31mred` is not one this version reads (`dark_red`, `blue` or ``)"
            ),
            "{e}"
        );
        assert!(!e.contains('\n') && !e.contains('\u{1b}'), "{e}");
        let long = format!("\"{}\"", "é".repeat(100_000));
        let e = serde_json::from_str::<Colour>(&long)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 1000, "{} bytes", e.len());
        let e = serde_json::from_str::<Colour>("5").unwrap_err().to_string();
        assert!(e.contains("colour: `dark_red`, `blue` or ``"), "{e}");
        #[derive(Debug, Deserialize)]
        struct Row {
            #[allow(dead_code)]
            colour: Colour,
        }
        let e = serde_json::from_str::<Row>(r#"{"colour": "Blue\r"}"#).unwrap_err();
        assert!(e.to_string().starts_with(r"colour `Blue\r` is not"), "{e}");
    }
}
