//! Stage one: raw `key → value` strings from a Java `.properties` file and
//! `--override key=value` arguments, in order, with where each came from.
//!
//! Nothing here knows what a key means; [`super::broker`] interprets the map.
//! The file is decoded as ISO-8859-1 (with `\uXXXX` escapes), as Java's
//! `Properties.load(InputStream)` and therefore Kafka do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ConfigError;

/// Where a raw value came from, for reporting (`kafka-configs --describe`, startup log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ValueSource {
    /// The properties file.
    File,
    /// A `--override key=value` argument (applied after the file, so it wins).
    Override,
    /// Neither: the key takes its default. Never stored in a [`RawConfig`]; returned by
    /// [`RawConfig::source`] for absent keys.
    Default,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The value exactly as written (the properties format strips leading blanks only).
    pub value: String,
    pub source: ValueSource,
    /// 1-based line in the properties file, for values from the file.
    pub line: Option<usize>,
}

/// An ordered raw map: keys keep the position of their first appearance; a later
/// assignment of the same key (a repeated line, an override) replaces the value, as in
/// Java where the last assignment wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    entries: Vec<(String, RawEntry)>,
    index: HashMap<String, usize>,
    file: Option<PathBuf>,
}

impl RawConfig {
    /// An empty map: every key takes its default.
    pub fn new() -> RawConfig {
        RawConfig::default()
    }

    /// Reads and parses a properties file.
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        // Read it whole first so I/O errors are reported as such, not as parse errors.
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let mut raw = RawConfig::from_reader(bytes.as_slice(), &path.display().to_string())?;
        raw.file = Some(path.to_path_buf());
        Ok(raw)
    }

    /// Parses properties text from any reader. `origin` names the input in errors.
    pub fn from_reader<R: std::io::Read>(reader: R, origin: &str) -> Result<RawConfig, ConfigError> {
        let mut raw = RawConfig::new();
        for line in java_properties::PropertiesIter::new(reader) {
            let line = line.map_err(|e| ConfigError::Parse {
                origin: origin.to_string(),
                line: e.line_number(),
                message: e.to_string(),
            })?;
            let number = line.line_number();
            if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
                raw.insert(key, value, ValueSource::File, Some(number));
            }
        }
        Ok(raw)
    }

    /// Parses properties text held in a string (tests, embedded defaults).
    pub fn parse_str(text: &str) -> Result<RawConfig, ConfigError> {
        RawConfig::from_reader(text.as_bytes(), "<string>")
    }

    /// Sets `key` to `value`, replacing any earlier value but keeping its position.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        source: ValueSource,
        line: Option<usize>,
    ) {
        let key = key.into();
        let entry = RawEntry { value: value.into(), source, line };
        match self.index.get(&key) {
            Some(&i) => {
                if let Some(slot) = self.entries.get_mut(i) {
                    slot.1 = entry;
                }
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, entry));
            }
        }
    }

    /// Applies `--override key=value` strings in order. The value is everything after
    /// the first `=` (it may itself contain `=` or be empty); a string without `=` or
    /// with an empty key is an error naming it.
    pub fn apply_overrides<S: AsRef<str>>(&mut self, overrides: &[S]) -> Result<(), ConfigError> {
        for item in overrides {
            let (key, value) = parse_override(item.as_ref())?;
            self.insert(key, value, ValueSource::Override, None);
        }
        Ok(())
    }

    /// The raw value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    /// The stored entry of `key`, if set.
    pub fn entry(&self, key: &str) -> Option<&RawEntry> {
        let i = *self.index.get(key)?;
        self.entries.get(i).map(|(_, e)| e)
    }

    /// Where the value of `key` comes from; [`ValueSource::Default`] when it is not set.
    pub fn source(&self, key: &str) -> ValueSource {
        self.entry(key).map_or(ValueSource::Default, |e| e.source)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Entries in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawEntry)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file this map was read from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

/// Splits one `--override` argument at its first `=`.
pub fn parse_override(item: &str) -> Result<(String, String), ConfigError> {
    match item.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        _ => Err(ConfigError::BadOverride(item.to_string())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_properties_syntax_in_order() {
        let raw =
            RawConfig::parse_str("# comment\n! also comment\nb = 2\na:1\nc 3\nlong=x\\\n   y\nb=22\nempty=\n").unwrap();
        let keys: Vec<&str> = raw.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "c", "long", "empty"]);
        assert_eq!(raw.get("b"), Some("22"), "last assignment wins");
        assert_eq!(raw.entry("b").unwrap().line, Some(8));
        assert_eq!(raw.get("a"), Some("1"));
        assert_eq!(raw.get("c"), Some("3"));
        assert_eq!(raw.get("long"), Some("xy"));
        assert_eq!(raw.get("empty"), Some(""));
        assert_eq!(raw.source("a"), ValueSource::File);
        assert_eq!(raw.source("zzz"), ValueSource::Default);
    }

    #[test]
    fn overrides_win_and_keep_position() {
        let mut raw = RawConfig::parse_str("x=1\ny=2\n").unwrap();
        raw.apply_overrides(&["y=3", "z=a=b", "w="]).unwrap();
        let pairs: Vec<(&str, &str)> = raw.iter().map(|(k, e)| (k, e.value.as_str())).collect();
        assert_eq!(pairs, [("x", "1"), ("y", "3"), ("z", "a=b"), ("w", "")]);
        assert_eq!(raw.source("x"), ValueSource::File);
        assert_eq!(raw.source("y"), ValueSource::Override);
        assert_eq!(raw.entry("y").unwrap().line, None);
    }

    #[test]
    fn override_without_equals_is_an_error() {
        let mut raw = RawConfig::new();
        let err = raw.apply_overrides(&["broker.id"]).unwrap_err();
        assert!(matches!(&err, ConfigError::BadOverride(s) if s == "broker.id"));
        assert_eq!(err.to_string(), "invalid --override 'broker.id': expected key=value");
        assert!(matches!(raw.apply_overrides(&["=5"]), Err(ConfigError::BadOverride(_))));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.properties");
        let err = RawConfig::from_file(&path).unwrap_err();
        assert!(matches!(&err, ConfigError::Io { path: p, .. } if p == &path));
        assert!(err.to_string().contains("nope.properties"));
    }

    #[test]
    fn bad_unicode_escape_is_a_parse_error() {
        let err = RawConfig::parse_str("a=\\u12zz\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: Some(1), .. }), "{err:?}");
    }

    #[test]
    fn file_is_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.properties");
        std::fs::write(&path, "a=1\n").unwrap();
        let raw = RawConfig::from_file(&path).unwrap();
        assert_eq!(raw.file(), Some(path.as_path()));
        assert_eq!(raw.len(), 1);
    }
}
