//! Single message transforms: a connector's `transforms=a,b` chain, each
//! configured by `transforms.<alias>.type` (Kafka's class names, e.g.
//! `org.apache.kafka.connect.transforms.InsertField$Value`, or the simple
//! name) and `transforms.<alias>.<key>`. A source record is transformed
//! before it is converted; a sink record after, before the task gets it.
//!
//! Built in: `InsertField`, `ReplaceField`, `ExtractField` (each `$Key` or
//! `$Value`), `ValueToKey`, `RegexRouter`, `TimestampRouter`, with Kafka's
//! keys and errors. Records with a schema are rewritten with a schema to
//! match; schemaless ones must be maps. A tombstone (null value) passes
//! through the value transforms untouched, as in Kafka.

use regex::Regex;

use super::data::{Data, Schema, SchemaType};
use super::{Config, ConnectError, Result};

/// The parts of a record a transform sees and may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    pub partition: Option<i32>,
    /// Only sink records have one.
    pub offset: Option<i64>,
    pub timestamp: Option<i64>,
    pub key_schema: Option<Schema>,
    pub key: Data,
    pub value_schema: Option<Schema>,
    pub value: Data,
}

/// One transformation.
pub trait Transformation: Send + Sync {
    /// The new record, or `None` to drop it.
    fn apply(&self, record: Record) -> Result<Option<Record>>;
}

/// A connector's transform chain, in order.
#[derive(Default)]
pub struct Chain {
    /// (alias, class as configured, transform).
    steps: Vec<(String, String, Box<dyn Transformation>)>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.steps.iter().map(|(a, _, _)| a)).finish()
    }
}

impl Chain {
    /// Builds the chain named by `transforms`; a bad transform config is an
    /// error naming the key (`transforms.<alias>.<key>`).
    pub fn from_config(config: &Config) -> Result<Chain> {
        let mut steps = Vec::new();
        for alias in list(config.get("transforms").map(String::as_str).unwrap_or("")) {
            let prefix = format!("transforms.{alias}.");
            let class = config.get(&format!("{prefix}type")).ok_or_else(|| {
                ConnectError::Config(format!(
                    "Invalid value null for configuration {prefix}type: Not a Transformation class"
                ))
            })?;
            let own: Config = config
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone())))
                .collect();
            steps.push((alias.clone(), class.clone(), build(class, &own, &prefix)?));
        }
        Ok(Chain { steps })
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the record through every step; an error names the failing alias.
    pub fn apply(&self, record: Record) -> Result<Option<Record>> {
        self.apply_traced(record).map_err(|(_, e)| e)
    }

    /// [`Chain::apply`], with the failing step's class beside its error.
    pub fn apply_traced(&self, record: Record) -> Result<Option<Record>, (String, ConnectError)> {
        let mut current = record;
        for (alias, class, step) in &self.steps {
            match step.apply(current) {
                Ok(Some(next)) => current = next,
                Ok(None) => return Ok(None),
                Err(ConnectError::Transform(m)) => {
                    return Err((class.clone(), ConnectError::Transform(format!("transform {alias}: {m}"))));
                }
                Err(e) => return Err((class.clone(), e)),
            }
        }
        Ok(Some(current))
    }
}

/// A comma-separated list, entries trimmed, empty ones dropped.
fn list(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn bad(prefix: &str, key: &str, value: &str, why: &str) -> ConnectError {
    ConnectError::Config(format!("Invalid value {value} for configuration {prefix}{key}: {why}"))
}

fn data_error(message: String) -> ConnectError {
    ConnectError::Transform(message)
}

/// Which part of the record a `$Key`/`$Value` transform works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Key,
    Value,
}

fn build(class: &str, config: &Config, prefix: &str) -> Result<Box<dyn Transformation>> {
    let simple = class.trim().rsplit('.').next().unwrap_or(class);
    let (name, part) = match simple.split_once('$') {
        Some((n, "Key")) => (n, Some(Part::Key)),
        Some((n, "Value")) => (n, Some(Part::Value)),
        Some(_) => ("", None),
        None => (simple, None),
    };
    let needs_part = |part: Option<Part>| {
        part.ok_or_else(|| bad(prefix, "type", class, "Class must name a $Key or $Value variant of the transformation"))
    };
    Ok(match name {
        "InsertField" => Box::new(InsertField::new(needs_part(part)?, config, prefix)?),
        "ReplaceField" => Box::new(ReplaceField::new(needs_part(part)?, config, prefix)?),
        "ExtractField" => Box::new(ExtractField::new(needs_part(part)?, config, prefix)?),
        "ValueToKey" if part.is_none() => Box::new(ValueToKey::new(config, prefix)?),
        "RegexRouter" if part.is_none() => Box::new(RegexRouter::new(config, prefix)?),
        "TimestampRouter" if part.is_none() => Box::new(TimestampRouter::new(config, prefix)?),
        _ => {
            return Err(bad(
                prefix,
                "type",
                class,
                "Class not found; available transformations are InsertField$Key, InsertField$Value, \
                 ReplaceField$Key, ReplaceField$Value, ExtractField$Key, ExtractField$Value, ValueToKey, \
                 RegexRouter, TimestampRouter (in org.apache.kafka.connect.transforms)",
            ))
        }
    })
}

fn operating(record: &Record, part: Part) -> (&Option<Schema>, &Data) {
    match part {
        Part::Key => (&record.key_schema, &record.key),
        Part::Value => (&record.value_schema, &record.value),
    }
}

fn with_part(mut record: Record, part: Part, schema: Option<Schema>, data: Data) -> Record {
    match part {
        Part::Key => {
            record.key_schema = schema;
            record.key = data;
        }
        Part::Value => {
            record.value_schema = schema;
            record.value = data;
        }
    }
    record
}

fn kind_of(data: &Data) -> &'static str {
    match data {
        Data::Null => "null",
        Data::Boolean(_) => "Boolean",
        Data::Int(_) => "Long",
        Data::Float(_) => "Double",
        Data::String(_) => "String",
        Data::Bytes(_) => "byte[]",
        Data::Array(_) => "ArrayList",
        Data::Map(_) => "HashMap",
        Data::Struct(_) => "Struct",
    }
}

/// Kafka's check for transforms that need a Struct (with a schema) or a
/// Map (without one).
fn require_container<'a>(schema: &'a Option<Schema>, data: &Data, purpose: &str) -> Result<Option<&'a Schema>> {
    match schema {
        Some(s) if s.kind == SchemaType::Struct && matches!(data, Data::Struct(_)) => Ok(Some(s)),
        Some(_) => Err(data_error(format!("Only Struct objects supported for [{purpose}], found: {}", kind_of(data)))),
        None if matches!(data, Data::Map(_)) => Ok(None),
        None => Err(data_error(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            kind_of(data)
        ))),
    }
}

/// A field spec of InsertField: `name`, `name?` (optional, the default) or
/// `name!` (required).
#[derive(Debug, Clone)]
struct FieldSpec {
    name: String,
    optional: bool,
}

impl FieldSpec {
    fn parse(spec: &str) -> Option<FieldSpec> {
        let spec = spec.trim();
        if spec.is_empty() {
            return None;
        }
        Some(match spec.strip_suffix('!') {
            Some(n) => FieldSpec { name: n.to_string(), optional: false },
            None => FieldSpec { name: spec.strip_suffix('?').unwrap_or(spec).to_string(), optional: true },
        })
    }
}

/// Kafka's `Timestamp` logical type: int64 millis named so.
fn timestamp_schema(optional: bool) -> Schema {
    Schema {
        name: Some("org.apache.kafka.connect.data.Timestamp".into()),
        version: Some(1),
        ..Schema::of(SchemaType::Int64, optional)
    }
}

/// `InsertField$Key` / `$Value`: adds the record's topic, partition,
/// offset (sink records), timestamp, and a static value as fields.
struct InsertField {
    part: Part,
    topic: Option<FieldSpec>,
    partition: Option<FieldSpec>,
    offset: Option<FieldSpec>,
    timestamp: Option<FieldSpec>,
    static_field: Option<(FieldSpec, String)>,
}

const INSERT_PURPOSE: &str = "field insertion";

impl InsertField {
    fn new(part: Part, config: &Config, prefix: &str) -> Result<InsertField> {
        let spec = |k: &str| config.get(k).and_then(|v| FieldSpec::parse(v));
        let static_field = match (spec("static.field"), config.get("static.value")) {
            (Some(f), v) => Some((f, v.cloned().unwrap_or_default())),
            (None, _) => None,
        };
        let t = InsertField {
            part,
            topic: spec("topic.field"),
            partition: spec("partition.field"),
            offset: spec("offset.field"),
            timestamp: spec("timestamp.field"),
            static_field,
        };
        if t.topic.is_none()
            && t.partition.is_none()
            && t.offset.is_none()
            && t.timestamp.is_none()
            && t.static_field.is_none()
        {
            return Err(ConnectError::Config(format!(
                "Invalid configuration for {prefix}: at least one of topic.field, partition.field, offset.field, \
                 timestamp.field, static.field must be set"
            )));
        }
        Ok(t)
    }

    /// (field, schema, value) for everything to insert.
    fn additions(&self, record: &Record) -> Result<Vec<(FieldSpec, Schema, Data)>> {
        let mut out = Vec::new();
        if let Some(f) = &self.topic {
            out.push((f.clone(), Schema::of(SchemaType::String, f.optional), Data::String(record.topic.clone())));
        }
        if let Some(f) = &self.partition {
            let v = record.partition.map_or(Data::Null, |p| Data::Int(p.into()));
            out.push((f.clone(), Schema::of(SchemaType::Int32, f.optional), v));
        }
        if let Some(f) = &self.offset {
            let Some(offset) = record.offset else {
                return Err(data_error(format!(
                    "Only SinkRecord supported for [{INSERT_PURPOSE}] of offset.field, found: SourceRecord"
                )));
            };
            out.push((f.clone(), Schema::of(SchemaType::Int64, f.optional), Data::Int(offset)));
        }
        if let Some(f) = &self.timestamp {
            let v = record.timestamp.map_or(Data::Null, Data::Int);
            out.push((f.clone(), timestamp_schema(f.optional), v));
        }
        if let Some((f, v)) = &self.static_field {
            out.push((f.clone(), Schema::of(SchemaType::String, f.optional), Data::String(v.clone())));
        }
        for (f, s, v) in &out {
            if !s.optional && v.is_null() {
                return Err(data_error(format!("Invalid value: null used for required field: \"{}\"", f.name)));
            }
        }
        Ok(out)
    }
}

impl Transformation for InsertField {
    fn apply(&self, record: Record) -> Result<Option<Record>> {
        let (schema, data) = operating(&record, self.part);
        if data.is_null() {
            return Ok(Some(record));
        }
        let schema = require_container(schema, data, INSERT_PURPOSE)?.cloned();
        let additions = self.additions(&record)?;
        let (schema, data) = match (schema, data.clone()) {
            (Some(mut s), Data::Struct(mut fields)) => {
                for (f, fs, v) in additions {
                    s.fields.retain(|(n, _)| *n != f.name);
                    fields.retain(|(n, _)| *n != f.name);
                    s.fields.push((f.name.clone(), fs));
                    fields.push((f.name, v));
                }
                (Some(s), Data::Struct(fields))
            }
            (None, Data::Map(mut entries)) => {
                for (f, _, v) in additions {
                    entries.retain(|(k, _)| !matches!(k, Data::String(n) if *n == f.name));
                    entries.push((Data::String(f.name), v));
                }
                (None, Data::Map(entries))
            }
            (s, d) => (s, d),
        };
        Ok(Some(with_part(record, self.part, schema, data)))
    }
}

/// `ReplaceField$Key` / `$Value`: keeps (`include`) or drops (`exclude`)
/// fields and renames them (`renames=old:new,...`). `whitelist` and
/// `blacklist` are Kafka's older names for `include` and `exclude`.
struct ReplaceField {
    part: Part,
    include: Vec<String>,
    exclude: Vec<String>,
    renames: Vec<(String, String)>,
}

impl ReplaceField {
    fn new(part: Part, config: &Config, prefix: &str) -> Result<ReplaceField> {
        let get =
            |k: &str, old: &str| list(config.get(k).or_else(|| config.get(old)).map(String::as_str).unwrap_or(""));
        let mut renames = Vec::new();
        for pair in list(config.get("renames").map(String::as_str).unwrap_or("")) {
            match pair.split_once(':') {
                Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                    renames.push((from.trim().to_string(), to.trim().to_string()))
                }
                _ => return Err(bad(prefix, "renames", &pair, "Invalid rename mapping, expected old:new")),
            }
        }
        Ok(ReplaceField { part, include: get("include", "whitelist"), exclude: get("exclude", "blacklist"), renames })
    }

    /// The field's new name, or `None` when it is dropped.
    fn keep(&self, name: &str) -> Option<String> {
        let kept = !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name));
        kept.then(|| {
            self.renames.iter().find(|(from, _)| from == name).map_or_else(|| name.to_string(), |(_, to)| to.clone())
        })
    }
}

impl Transformation for ReplaceField {
    fn apply(&self, record: Record) -> Result<Option<Record>> {
        let (schema, data) = operating(&record, self.part);
        if data.is_null() {
            return Ok(Some(record));
        }
        let schema = require_container(schema, data, "field replacement")?.cloned();
        let (schema, data) = match (schema, data.clone()) {
            (Some(mut s), Data::Struct(fields)) => {
                s.fields = s.fields.into_iter().filter_map(|(n, fs)| self.keep(&n).map(|n| (n, fs))).collect();
                let fields = fields.into_iter().filter_map(|(n, v)| self.keep(&n).map(|n| (n, v))).collect();
                (Some(s), Data::Struct(fields))
            }
            (None, Data::Map(entries)) => {
                let entries = entries
                    .into_iter()
                    .filter_map(|(k, v)| match &k {
                        Data::String(n) => self.keep(n).map(|n| (Data::String(n), v)),
                        _ => Some((k, v)),
                    })
                    .collect();
                (None, Data::Map(entries))
            }
            (s, d) => (s, d),
        };
        Ok(Some(with_part(record, self.part, schema, data)))
    }
}

/// `ExtractField$Key` / `$Value`: replaces the struct or map with one of its
/// fields.
struct ExtractField {
    part: Part,
    field: String,
}

impl ExtractField {
    fn new(part: Part, config: &Config, prefix: &str) -> Result<ExtractField> {
        match config.get("field").map(|f| f.trim()) {
            Some(f) if !f.is_empty() => Ok(ExtractField { part, field: f.to_string() }),
            _ => Err(ConnectError::Config(format!(
                "Missing required configuration \"{prefix}field\" which has no default value."
            ))),
        }
    }
}

impl Transformation for ExtractField {
    fn apply(&self, record: Record) -> Result<Option<Record>> {
        let (schema, data) = operating(&record, self.part);
        if data.is_null() {
            return Ok(Some(record));
        }
        let schema = require_container(schema, data, "field extraction")?;
        let (schema, data) = match schema {
            Some(s) => {
                let fs = s
                    .field(&self.field)
                    .ok_or_else(|| data_error(format!("{} is not a valid field name", self.field)))?;
                (Some(fs.clone()), data.get(&self.field).cloned().unwrap_or(Data::Null))
            }
            None => (None, data.get(&self.field).cloned().unwrap_or(Data::Null)),
        };
        Ok(Some(with_part(record, self.part, schema, data)))
    }
}

/// `ValueToKey`: the key becomes a struct (or map) of some of the value's
/// fields (`fields`).
struct ValueToKey {
    fields: Vec<String>,
}

impl ValueToKey {
    fn new(config: &Config, prefix: &str) -> Result<ValueToKey> {
        let fields = list(config.get("fields").map(String::as_str).unwrap_or(""));
        if fields.is_empty() {
            return Err(ConnectError::Config(format!("Invalid value [] for configuration {prefix}fields: Empty list")));
        }
        Ok(ValueToKey { fields })
    }
}

impl Transformation for ValueToKey {
    fn apply(&self, record: Record) -> Result<Option<Record>> {
        const PURPOSE: &str = "copying fields from value to key";
        let schema = require_container(&record.value_schema, &record.value, PURPOSE)?;
        let (key_schema, key) = match schema {
            Some(s) => {
                let mut fields = Vec::new();
                let mut values = Vec::new();
                for f in &self.fields {
                    let fs = s.field(f).ok_or_else(|| data_error(format!("{f} is not a valid field name")))?;
                    fields.push((f.clone(), fs.clone()));
                    values.push((f.clone(), record.value.get(f).cloned().unwrap_or(Data::Null)));
                }
                (Some(Schema::structure(None, fields, false)), Data::Struct(values))
            }
            None => {
                let entries = self
                    .fields
                    .iter()
                    .map(|f| (Data::String(f.clone()), record.value.get(f).cloned().unwrap_or(Data::Null)))
                    .collect();
                (None, Data::Map(entries))
            }
        };
        Ok(Some(Record { key_schema, key, ..record }))
    }
}

/// Java's replacement syntax (`$1`, `\$`) in Rust regex's (`${1}`, `$$`).
fn java_replacement(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len() + 4);
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    out.push_str("$$");
                } else {
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// `RegexRouter`: a topic that matches `regex` entirely becomes
/// `replacement` (Java's `$1` group references).
struct RegexRouter {
    regex: Regex,
    replacement: String,
}

impl RegexRouter {
    fn new(config: &Config, prefix: &str) -> Result<RegexRouter> {
        let missing = |k: &str| {
            ConnectError::Config(format!("Missing required configuration \"{prefix}{k}\" which has no default value."))
        };
        let pattern = config.get("regex").ok_or_else(|| missing("regex"))?;
        let replacement = config.get("replacement").ok_or_else(|| missing("replacement"))?;
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| bad(prefix, "regex", pattern, &format!("Invalid regex: {e}")))?;
        Ok(RegexRouter { regex, replacement: java_replacement(replacement) })
    }
}

impl Transformation for RegexRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>> {
        if self.regex.is_match(&record.topic) {
            record.topic = self.regex.replace(&record.topic, self.replacement.as_str()).into_owned();
        }
        Ok(Some(record))
    }
}

/// `TimestampRouter`: the topic becomes `topic.format` (default
/// `${topic}-${timestamp}`) with the record's timestamp formatted by
/// `timestamp.format` (Java's SimpleDateFormat letters, default
/// `yyyyMMdd`, in UTC).
struct TimestampRouter {
    topic_format: String,
    /// chrono's strftime form of `timestamp.format`.
    strftime: String,
}

/// SimpleDateFormat letters → strftime, for the letters routers use.
fn simple_date_format(pattern: &str) -> Option<String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal text; '' is a single quote.
            i += 1;
            if chars.get(i) == Some(&'\'') {
                out.push('\'');
                i += 1;
                continue;
            }
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '%' {
                    out.push('%');
                }
                out.push(chars[i]);
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push('%');
            }
            out.push(c);
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let spec = match (c, n) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('D', _) => "%j",
            _ => return None,
        };
        out.push_str(spec);
        i += n;
    }
    Some(out)
}

impl TimestampRouter {
    fn new(config: &Config, prefix: &str) -> Result<TimestampRouter> {
        let topic_format = config.get("topic.format").cloned().unwrap_or_else(|| "${topic}-${timestamp}".into());
        let pattern = config.get("timestamp.format").map_or("yyyyMMdd", String::as_str);
        let strftime = simple_date_format(pattern).ok_or_else(|| {
            bad(prefix, "timestamp.format", pattern, "Unsupported pattern letter (supported: y M d H m s S D)")
        })?;
        Ok(TimestampRouter { topic_format, strftime })
    }
}

impl Transformation for TimestampRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>> {
        let ts = record
            .timestamp
            .ok_or_else(|| data_error(format!("Timestamp missing on record: topic {}", record.topic)))?;
        let when = chrono::DateTime::from_timestamp_millis(ts)
            .ok_or_else(|| data_error(format!("Timestamp {ts} is out of range")))?;
        let formatted = when.format(&self.strftime).to_string();
        record.topic = self.topic_format.replace("${topic}", &record.topic).replace("${timestamp}", &formatted);
        Ok(Some(record))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn value_record(schema: Option<Schema>, value: Data) -> Record {
        Record {
            topic: "orders".into(),
            partition: Some(2),
            offset: Some(41),
            timestamp: Some(1_700_000_000_000),
            key_schema: None,
            key: Data::Null,
            value_schema: schema,
            value,
        }
    }

    fn order_schema() -> Schema {
        Schema::structure(
            Some("order"),
            vec![
                ("id".into(), Schema::of(SchemaType::Int64, false)),
                ("item".into(), Schema::string()),
                ("secret".into(), Schema::optional_string()),
            ],
            false,
        )
    }

    fn order() -> Data {
        Data::Struct(vec![
            ("id".into(), Data::Int(7)),
            ("item".into(), Data::String("tea".into())),
            ("secret".into(), Data::String("x".into())),
        ])
    }

    #[test]
    fn a_chain_applies_its_steps_in_order_and_names_bad_keys() {
        let c = config(&[
            ("transforms", "route, drop"),
            ("transforms.route.type", "org.apache.kafka.connect.transforms.RegexRouter"),
            ("transforms.route.regex", "(.*)s"),
            ("transforms.route.replacement", "$1-copy"),
            ("transforms.drop.type", "org.apache.kafka.connect.transforms.ReplaceField$Value"),
            ("transforms.drop.exclude", "secret"),
        ]);
        let chain = Chain::from_config(&c).unwrap();
        let out = chain.apply(value_record(Some(order_schema()), order())).unwrap().unwrap();
        assert_eq!(out.topic, "order-copy");
        assert_eq!(out.value.get("secret"), None);
        assert_eq!(out.value_schema.unwrap().fields.len(), 2);

        let missing = config(&[("transforms", "x")]);
        let err = Chain::from_config(&missing).unwrap_err().to_string();
        assert!(err.contains("transforms.x.type"), "{err}");
        let unknown = config(&[("transforms", "x"), ("transforms.x.type", "com.example.Nope")]);
        let err = Chain::from_config(&unknown).unwrap_err().to_string();
        assert!(err.contains("transforms.x.type") && err.contains("com.example.Nope"), "{err}");
        let no_part = config(&[("transforms", "x"), ("transforms.x.type", "InsertField")]);
        assert!(Chain::from_config(&no_part).unwrap_err().to_string().contains("$Value"));
    }

    #[test]
    fn insert_field_adds_metadata_fields_to_structs_and_maps() {
        let c = config(&[
            ("topic.field", "t"),
            ("partition.field", "p!"),
            ("offset.field", "o"),
            ("timestamp.field", "ts"),
            ("static.field", "origin"),
            ("static.value", "shop"),
        ]);
        let t = InsertField::new(Part::Value, &c, "transforms.i.").unwrap();
        let out = t.apply(value_record(Some(order_schema()), order())).unwrap().unwrap();
        let s = out.value_schema.unwrap();
        assert_eq!(s.field("p").unwrap().kind, SchemaType::Int32);
        assert!(!s.field("p").unwrap().optional);
        assert_eq!(s.field("ts").unwrap().name.as_deref(), Some("org.apache.kafka.connect.data.Timestamp"));
        assert_eq!(out.value.get("t"), Some(&Data::String("orders".into())));
        assert_eq!(out.value.get("o"), Some(&Data::Int(41)));
        assert_eq!(out.value.get("origin"), Some(&Data::String("shop".into())));

        let map = Data::Map(vec![(Data::String("a".into()), Data::Int(1))]);
        let out = t.apply(value_record(None, map)).unwrap().unwrap();
        assert_eq!(out.value.get("p"), Some(&Data::Int(2)));
        // Tombstones pass; a plain string is refused with Kafka's words.
        assert_eq!(t.apply(value_record(None, Data::Null)).unwrap().unwrap().value, Data::Null);
        let err = t.apply(value_record(None, Data::String("x".into()))).unwrap_err().to_string();
        assert!(err.contains("Only Map objects supported in absence of schema for [field insertion]"), "{err}");
        // Source records have no offset.
        let mut source = value_record(Some(order_schema()), order());
        source.offset = None;
        assert!(t.apply(source).unwrap_err().to_string().contains("offset.field"));
        assert!(InsertField::new(Part::Value, &Config::new(), "transforms.i.").is_err());
    }

    #[test]
    fn replace_field_includes_excludes_and_renames() {
        let c = config(&[("include", "id,item"), ("renames", "item:product")]);
        let t = ReplaceField::new(Part::Value, &c, "transforms.r.").unwrap();
        let out = t.apply(value_record(Some(order_schema()), order())).unwrap().unwrap();
        assert_eq!(
            out.value,
            Data::Struct(vec![("id".into(), Data::Int(7)), ("product".into(), Data::String("tea".into()))])
        );
        let names: Vec<_> = out.value_schema.unwrap().fields.into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["id", "product"]);
        let err = ReplaceField::new(Part::Value, &config(&[("renames", "a")]), "transforms.r.").err().unwrap();
        assert!(err.to_string().contains("transforms.r.renames"), "{err}");
        let old = ReplaceField::new(Part::Value, &config(&[("blacklist", "secret")]), "p.").unwrap();
        assert_eq!(old.keep("secret"), None);
        assert_eq!(old.keep("id").as_deref(), Some("id"));
    }

    #[test]
    fn value_to_key_then_extract_field_makes_a_primitive_key() {
        let v2k = ValueToKey::new(&config(&[("fields", "id")]), "transforms.k.").unwrap();
        let out = v2k.apply(value_record(Some(order_schema()), order())).unwrap().unwrap();
        assert_eq!(out.key, Data::Struct(vec![("id".into(), Data::Int(7))]));
        let extract = ExtractField::new(Part::Key, &config(&[("field", "id")]), "transforms.e.").unwrap();
        let out = extract.apply(out).unwrap().unwrap();
        assert_eq!(out.key, Data::Int(7));
        assert_eq!(out.key_schema.unwrap().kind, SchemaType::Int64);
        let bad = ValueToKey::new(&config(&[("fields", "nope")]), "transforms.k.").unwrap();
        assert!(bad.apply(value_record(Some(order_schema()), order())).unwrap_err().to_string().contains("nope"));
        assert!(ValueToKey::new(&Config::new(), "transforms.k.")
            .err()
            .unwrap()
            .to_string()
            .contains("transforms.k.fields"));
    }

    #[test]
    fn routers_rewrite_the_topic() {
        let r =
            RegexRouter::new(&config(&[("regex", "db\\.(\\w+)\\.(\\w+)"), ("replacement", "$2_$1")]), "t.").unwrap();
        let mut rec = value_record(None, Data::Null);
        rec.topic = "db.public.users".into();
        assert_eq!(r.apply(rec.clone()).unwrap().unwrap().topic, "users_public");
        rec.topic = "xdb.public.users".into();
        assert_eq!(r.apply(rec).unwrap().unwrap().topic, "xdb.public.users", "only whole-topic matches route");
        assert_eq!(java_replacement("a\\$b$12c"), "a$$b${12}c");

        let t = TimestampRouter::new(&Config::new(), "t.").unwrap();
        assert_eq!(t.apply(value_record(None, Data::Null)).unwrap().unwrap().topic, "orders-20231114");
        let t = TimestampRouter::new(
            &config(&[("topic.format", "${timestamp}/${topic}"), ("timestamp.format", "yyyy-MM-dd'T'HH")]),
            "t.",
        )
        .unwrap();
        assert_eq!(t.apply(value_record(None, Data::Null)).unwrap().unwrap().topic, "2023-11-14T22/orders");
        let mut untimed = value_record(None, Data::Null);
        untimed.timestamp = None;
        assert!(t.apply(untimed).is_err());
        assert!(TimestampRouter::new(&config(&[("timestamp.format", "yyyyQQ")]), "t.").is_err());
    }
}
