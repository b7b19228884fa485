//! Kafka's value types and validators (`ConfigDef` in Kafka), shared by the broker and
//! topic key tables. Parsing follows Kafka: values are trimmed; numbers must fit the
//! Java type; booleans are `true`/`false` in any case; lists split on commas.
//! Error reasons use Kafka's wording.

use super::ConfigError;

/// Kafka's `ConfigDef.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ValueType {
    fn kafka_name(self) -> &'static str {
        match self {
            ValueType::Boolean => "BOOLEAN",
            ValueType::String => "STRING",
            ValueType::Int => "INT",
            ValueType::Short => "SHORT",
            ValueType::Long => "LONG",
            ValueType::Double => "DOUBLE",
            ValueType::List => "LIST",
            ValueType::Class => "CLASS",
            ValueType::Password => "PASSWORD",
        }
    }
}

/// Kafka's validators, as far as gregor needs them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Check {
    Any,
    /// `Range.atLeast(n)`.
    AtLeast(i64),
    /// `Range.between(0.0, 1.0)` for ratios.
    Ratio,
    /// `ValidString.in(...)`, case-sensitive as in Kafka.
    OneOf(&'static [&'static str]),
    /// `ValidList.in(...)`: a non-empty list whose items are each one of these.
    ListOf(&'static [&'static str]),
    /// `ThrottledReplicaListValidator`: empty, `*`, or `partition:broker,...`.
    ThrottledReplicas,
}

/// A Kafka default: a literal, null, or (only for `log.dir`) the platform data dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefaultValue {
    Null,
    Value(&'static str),
    /// `<platform data dir>/kafka-logs`, else `/tmp/kafka-logs`.
    DataDir,
}

/// One known key: Kafka name, type, default, validator, and whether Kafka can change it
/// at run time (DescribeConfigs `read_only` is the negation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyDef {
    pub name: &'static str,
    pub ty: ValueType,
    pub default: DefaultValue,
    pub check: Check,
    pub dynamic: bool,
}

impl KeyDef {
    pub fn sensitive(&self) -> bool {
        self.ty == ValueType::Password
    }

    /// The default rendered as a Kafka value string; `None` for a null default.
    pub fn default_string(&self) -> Option<String> {
        match self.default {
            DefaultValue::Null => None,
            DefaultValue::Value(v) => Some(v.to_string()),
            DefaultValue::DataDir => Some(default_log_dir()),
        }
    }
}

/// `<platform data dir>/kafka-logs` (e.g. `~/.local/share/gregor/kafka-logs` on Linux),
/// or Kafka's `/tmp/kafka-logs` when there is no home directory.
pub(crate) fn default_log_dir() -> String {
    directories::ProjectDirs::from("", "", "gregor")
        .map(|dirs| dirs.data_dir().join("kafka-logs").display().to_string())
        .unwrap_or_else(|| "/tmp/kafka-logs".to_string())
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    /// INT, SHORT and LONG, already range-checked against the Java type.
    Number(i64),
    Double(f64),
    /// STRING, CLASS and PASSWORD (trimmed).
    Text(String),
    List(Vec<String>),
}

impl Value {
    /// Kafka's `ConfigDef.convertToString`.
    pub fn render(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            // Debug keeps the ".0" Java prints ("1.0", not "1").
            Value::Double(d) => format!("{d:?}"),
            Value::Text(s) => s.clone(),
            Value::List(items) => items.join(","),
        }
    }
}

/// Splits a Kafka list: trims, splits on commas, drops empty items.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Parses and validates `raw` as the value of `def`.
pub(crate) fn parse(def: &KeyDef, raw: &str) -> Result<Value, ConfigError> {
    let key = def.name;
    let trimmed = raw.trim();
    let not_a_number = || ConfigError::invalid(key, trimmed, format!("Not a number of type {}", def.ty.kafka_name()));
    let value = match def.ty {
        ValueType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(ConfigError::invalid(key, trimmed, "Expected value to be either true or false"));
            }
        }
        ValueType::Int => Value::Number(i64::from(trimmed.parse::<i32>().map_err(|_| not_a_number())?)),
        ValueType::Short => Value::Number(i64::from(trimmed.parse::<i16>().map_err(|_| not_a_number())?)),
        ValueType::Long => Value::Number(trimmed.parse::<i64>().map_err(|_| not_a_number())?),
        ValueType::Double => {
            let d = trimmed.parse::<f64>().map_err(|_| not_a_number())?;
            if d.is_nan() {
                return Err(not_a_number());
            }
            Value::Double(d)
        }
        ValueType::String | ValueType::Class | ValueType::Password => Value::Text(trimmed.to_string()),
        ValueType::List => Value::List(split_list(trimmed)),
    };
    check(def, trimmed, &value)?;
    Ok(value)
}

fn check(def: &KeyDef, raw: &str, value: &Value) -> Result<(), ConfigError> {
    let key = def.name;
    match (def.check, value) {
        (Check::Any, _) => Ok(()),
        (Check::AtLeast(min), Value::Number(n)) if *n < min => {
            Err(ConfigError::invalid(key, raw, format!("Value must be at least {min}")))
        }
        (Check::AtLeast(_), _) => Ok(()),
        (Check::Ratio, Value::Double(d)) if *d < 0.0 => {
            Err(ConfigError::invalid(key, raw, "Value must be at least 0.0"))
        }
        (Check::Ratio, Value::Double(d)) if *d > 1.0 => {
            Err(ConfigError::invalid(key, raw, "Value must be no more than 1.0"))
        }
        (Check::Ratio, _) => Ok(()),
        (Check::OneOf(allowed), Value::Text(s)) if !allowed.contains(&s.as_str()) => {
            Err(ConfigError::invalid(key, raw, format!("String must be one of: {}", allowed.join(", "))))
        }
        (Check::OneOf(_), _) => Ok(()),
        (Check::ListOf(allowed), Value::List(items)) => {
            let reason = format!("String must be one of: {}", allowed.join(", "));
            if items.is_empty() {
                return Err(ConfigError::invalid(key, raw, reason));
            }
            match items.iter().find(|i| !allowed.contains(&i.as_str())) {
                Some(bad) => Err(ConfigError::invalid(key, bad.as_str(), reason)),
                None => Ok(()),
            }
        }
        (Check::ListOf(_), _) => Ok(()),
        (Check::ThrottledReplicas, Value::List(items)) => {
            let wildcard = items.len() == 1 && items[0] == "*";
            let pairs = items.iter().all(|item| {
                item.split_once(':')
                    .is_some_and(|(p, b)| p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok())
            });
            if wildcard || pairs {
                Ok(())
            } else {
                Err(ConfigError::invalid(
                    key,
                    raw,
                    "Must be the wildcard (*) or a list of the form [PartitionId]:[ReplicaId],[PartitionId]:[ReplicaId],...",
                ))
            }
        }
        (Check::ThrottledReplicas, _) => Ok(()),
    }
}

/// Shorthand constructor for the key tables.
pub(crate) const fn key(
    name: &'static str,
    ty: ValueType,
    default: DefaultValue,
    check: Check,
    dynamic: bool,
) -> KeyDef {
    KeyDef { name, ty, default, check, dynamic }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn def(ty: ValueType, check: Check) -> KeyDef {
        key("k", ty, DefaultValue::Null, check, false)
    }

    #[test]
    fn numbers_follow_java_widths() {
        assert_eq!(parse(&def(ValueType::Int, Check::Any), " 42 ").unwrap(), Value::Number(42));
        let err = parse(&def(ValueType::Int, Check::Any), "3000000000").unwrap_err();
        assert_eq!(err.to_string(), "Invalid value 3000000000 for configuration k: Not a number of type INT");
        assert!(parse(&def(ValueType::Long, Check::Any), "3000000000").is_ok());
        assert!(parse(&def(ValueType::Short, Check::Any), "40000").is_err());
        assert!(parse(&def(ValueType::Double, Check::Any), "NaN").is_err());
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        let d = def(ValueType::Boolean, Check::Any);
        assert_eq!(parse(&d, "TRUE").unwrap(), Value::Bool(true));
        assert_eq!(parse(&d, "False").unwrap(), Value::Bool(false));
        let err = parse(&d, "yes").unwrap_err();
        assert_eq!(err.to_string(), "Invalid value yes for configuration k: Expected value to be either true or false");
    }

    #[test]
    fn validators_use_kafka_wording() {
        let err = parse(&def(ValueType::Int, Check::AtLeast(1)), "0").unwrap_err();
        assert_eq!(err.to_string(), "Invalid value 0 for configuration k: Value must be at least 1");
        let err = parse(&def(ValueType::Double, Check::Ratio), "1.5").unwrap_err();
        assert!(err.to_string().ends_with("Value must be no more than 1.0"));
        let err = parse(&def(ValueType::String, Check::OneOf(&["a", "b"])), "c").unwrap_err();
        assert!(err.to_string().ends_with("String must be one of: a, b"));
        let list = def(ValueType::List, Check::ListOf(&["x", "y"]));
        assert_eq!(parse(&list, "y, x").unwrap(), Value::List(vec!["y".into(), "x".into()]));
        let err = parse(&list, "x,z").unwrap_err();
        assert_eq!(err.to_string(), "Invalid value z for configuration k: String must be one of: x, y");
        assert!(parse(&list, "").is_err());
    }

    #[test]
    fn throttled_replicas() {
        let d = def(ValueType::List, Check::ThrottledReplicas);
        assert!(parse(&d, "").is_ok());
        assert!(parse(&d, "*").is_ok());
        assert!(parse(&d, "0:1, 1:2").is_ok());
        assert!(parse(&d, "0-1").is_err());
    }

    #[test]
    fn render_matches_kafka() {
        assert_eq!(Value::Double(0.5).render(), "0.5");
        assert_eq!(Value::Double(1.0).render(), "1.0");
        assert_eq!(Value::List(vec!["compact".into(), "delete".into()]).render(), "compact,delete");
    }
}
