//! Connect's data model: a value with an optional schema, as Kafka Connect's
//! `SchemaAndValue`. Schemas carry Kafka's type names so the JSON converter
//! can write and read them exactly as Kafka's does.

use std::fmt;

use bytes::Bytes;

/// Kafka Connect's schema types (`Schema.Type`), with their JSON names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    pub fn parse(name: &str) -> Option<SchemaType> {
        Some(match name {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float" => SchemaType::Float32,
            "double" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }
}

/// A Connect schema: type, optionality, name, and the parts of compound types.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: SchemaType,
    pub optional: bool,
    pub name: Option<String>,
    pub version: Option<i32>,
    /// Struct fields in order.
    pub fields: Vec<(String, Schema)>,
    /// Array items, or map values.
    pub items: Option<Box<Schema>>,
    /// Map keys.
    pub keys: Option<Box<Schema>>,
}

impl Schema {
    /// A primitive schema.
    pub fn of(kind: SchemaType, optional: bool) -> Schema {
        Schema { kind, optional, name: None, version: None, fields: Vec::new(), items: None, keys: None }
    }

    /// Kafka's `Schema.STRING_SCHEMA`: a required string.
    pub fn string() -> Schema {
        Schema::of(SchemaType::String, false)
    }

    /// Kafka's `Schema.OPTIONAL_STRING_SCHEMA`.
    pub fn optional_string() -> Schema {
        Schema::of(SchemaType::String, true)
    }

    /// A struct schema with `fields`.
    pub fn structure(name: Option<&str>, fields: Vec<(String, Schema)>, optional: bool) -> Schema {
        Schema { name: name.map(str::to_string), fields, ..Schema::of(SchemaType::Struct, optional) }
    }

    pub fn field(&self, name: &str) -> Option<&Schema> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }
}

/// A Connect value.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Null,
    Boolean(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Bytes),
    Array(Vec<Data>),
    Map(Vec<(Data, Data)>),
    /// Field values in the schema's order.
    Struct(Vec<(String, Data)>),
}

impl Data {
    pub fn is_null(&self) -> bool {
        matches!(self, Data::Null)
    }

    /// A struct's field, or a string-keyed map's entry.
    pub fn get(&self, name: &str) -> Option<&Data> {
        match self {
            Data::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            Data::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(k, Data::String(s) if s == name)).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// As Kafka's `toString` of the value: strings as they are, structs as
/// `Struct{a=1,b=x}`, lists as `[a, b]`, maps as `{k=v}`, null as `null`.
impl fmt::Display for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Data::Null => f.write_str("null"),
            Data::Boolean(b) => write!(f, "{b}"),
            Data::Int(i) => write!(f, "{i}"),
            Data::Float(x) => write!(f, "{x}"),
            Data::String(s) => f.write_str(s),
            Data::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b)),
            Data::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Data::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={v}")?;
                }
                f.write_str("}")
            }
            Data::Struct(fields) => {
                f.write_str("Struct{")?;
                let mut first = true;
                for (n, v) in fields {
                    if v.is_null() {
                        continue;
                    }
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    write!(f, "{n}={v}")?;
                }
                f.write_str("}")
            }
        }
    }
}
