//! TOML files qfix reads (the policy, rule files): parsed with toml_edit, then each part
//! deserialized through serde into its type, every error named by path:line. A part that
//! fails does not stop the others, so one run reports every error of the file.

use std::ops::Range;

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{ImDocument, Item};

use crate::error::Error;

pub struct TomlFile<'a> {
    pub path: &'a str,
    text: &'a str,
    pub doc: ImDocument<&'a str>,
}

impl<'a> TomlFile<'a> {
    pub fn parse(path: &'a str, text: &'a str) -> Result<TomlFile<'a>, Error> {
        match ImDocument::parse(text) {
            Ok(doc) => Ok(TomlFile { path, text, doc }),
            Err(e) => {
                let line = line_of(text, e.span().map_or(0, |s| s.start));
                Err(Error::at(path, line, e.message().trim()))
            }
        }
    }

    /// 1-based line of a byte span's start.
    pub fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(1, |s| line_of(self.text, s.start))
    }

    pub fn line_of(&self, item: &Item) -> usize {
        self.line(item.span())
    }

    pub fn error(&self, item: &Item, msg: impl std::fmt::Display) -> Error {
        Error::at(self.path, self.line_of(item), msg)
    }

    /// `item` deserialized as a `T`; an error names the line of the offending value (or of
    /// the item, when serde cannot tell), prefixed with `what`.
    pub fn value<T: DeserializeOwned>(&self, what: &str, item: &Item) -> Result<T, Error> {
        let line = self.line_of(item);
        let value = match item.clone().into_value() {
            Ok(v) => v,
            Err(_) => return Err(Error::at(self.path, line, format!("{what}: not a value"))),
        };
        T::deserialize(value.into_deserializer()).map_err(|e| {
            let at = e.span().map_or(line, |s| line_of(self.text, s.start));
            // the error's display ends with "in `field`" when serde knows the field
            let shown = e.to_string();
            let field = shown
                .lines()
                .find_map(|l| l.strip_prefix("in `")?.strip_suffix('`'));
            let msg = e.message().trim();
            let msg = match field {
                Some(f) => format!("{what}: {f}: {msg}"),
                None => format!("{what}: {msg}"),
            };
            Error::at(self.path, at, msg)
        })
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}
