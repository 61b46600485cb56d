//! The gob encoder: values described by a [`Schema`] out.

use super::{Error, Value, ids, malformed, put_bytes, put_int, put_uint};

/// The Go type of a value to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schema {
    /// `bool`.
    Bool,
    /// A signed integer type.
    Int,
    /// An unsigned integer type.
    Uint,
    /// `string`.
    String,
    /// `[]byte`.
    Bytes,
    /// A struct with its Go name and fields in declaration order.
    Struct {
        /// The Go type name, e.g. `RpcError`.
        name: &'static str,
        /// Fields by Go name, in order.
        fields: Vec<(&'static str, Self)>,
    },
    /// A slice of the element type.
    Slice(Box<Self>),
}

/// Writes gob values to one stream, defining each type once.
#[derive(Debug, Default)]
pub struct Encoder {
    sent: Vec<(Schema, i64)>,
}

impl Encoder {
    /// An encoder for a fresh stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes that send `value` of type `schema`: any type definitions
    /// it needs that were not sent yet, then the value message.
    ///
    /// ```
    /// use plugin_proto::gob::{Decoder, Encoder, Schema, Value};
    /// let schema = Schema::Struct { name: "RpcError", fields: vec![("ErrorString", Schema::String)] };
    /// let value = Value::Struct(vec![("ErrorString".into(), Value::String("boom".into()))]);
    /// let mut enc = Encoder::new();
    /// let bytes = enc.encode(&schema, &value).unwrap();
    /// assert_eq!(Decoder::new(&bytes[..]).decode().unwrap(), value);
    /// ```
    pub fn encode(&mut self, schema: &Schema, value: &Value) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let id = self.define(schema, &mut out);
        let mut msg = Vec::new();
        put_int(&mut msg, id);
        match schema {
            Schema::Struct { fields, .. } => struct_fields(fields, value, &mut msg)?,
            other => {
                put_uint(&mut msg, 0);
                put_value(other, value, &mut msg)?;
            }
        }
        message(&msg, &mut out);
        Ok(out)
    }

    /// The id of `schema`, writing its definition (and its parts') first if needed.
    fn define(&mut self, schema: &Schema, out: &mut Vec<u8>) -> i64 {
        match schema {
            Schema::Bool => return ids::BOOL,
            Schema::Int => return ids::INT,
            Schema::Uint => return ids::UINT,
            Schema::String => return ids::STRING,
            Schema::Bytes => return ids::BYTES,
            _ => {}
        }
        if let Some((_, id)) = self.sent.iter().find(|(s, _)| s == schema) {
            return *id;
        }
        // Parts first, so every id a definition names is already known.
        let mut wire = Vec::new();
        let (kind_field, name, inner): (u64, String, Vec<u8>) = match schema {
            Schema::Struct { name, fields } => {
                let field_ids: Vec<(&str, i64)> = fields
                    .iter()
                    .map(|(n, s)| (*n, self.define(s, out)))
                    .collect();
                let mut body = Vec::new();
                put_uint(&mut body, field_ids.len() as u64);
                for (n, id) in field_ids {
                    put_uint(&mut body, 1);
                    put_bytes(&mut body, n.as_bytes());
                    put_uint(&mut body, 1);
                    put_int(&mut body, id);
                    put_uint(&mut body, 0);
                }
                (3, (*name).to_owned(), body)
            }
            Schema::Slice(elem) => {
                let elem_id = self.define(elem, out);
                let mut body = Vec::new();
                put_int(&mut body, elem_id);
                (2, String::new(), body)
            }
            _ => unreachable!("builtins returned above"),
        };
        let id = ids::FIRST_USER + self.sent.len() as i64;
        self.sent.push((schema.clone(), id));
        // wireType { <kind>: { CommonType: { Name, Id }, <rest> } }
        put_uint(&mut wire, kind_field);
        put_uint(&mut wire, 1); // CommonType
        if !name.is_empty() {
            put_uint(&mut wire, 1);
            put_bytes(&mut wire, name.as_bytes());
            put_uint(&mut wire, 1);
        } else {
            put_uint(&mut wire, 2);
        }
        put_int(&mut wire, id);
        put_uint(&mut wire, 0); // end of CommonType
        put_uint(&mut wire, 1); // Field (struct) or Elem (slice)
        wire.extend_from_slice(&inner);
        put_uint(&mut wire, 0); // end of the kind's struct
        put_uint(&mut wire, 0); // end of wireType
        let mut msg = Vec::new();
        put_int(&mut msg, -id);
        msg.extend_from_slice(&wire);
        message(&msg, out);
        id
    }
}

fn message(body: &[u8], out: &mut Vec<u8>) {
    put_uint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A struct's fields, zero values left out as Go does, then the end mark.
fn struct_fields(
    fields: &[(&'static str, Schema)],
    value: &Value,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let Value::Struct(values) = value else {
        return Err(malformed("a struct schema needs a struct value"));
    };
    let mut last: i64 = -1;
    for (i, (name, schema)) in fields.iter().enumerate() {
        let Some((_, v)) = values.iter().find(|(n, _)| n == name) else {
            continue;
        };
        if is_zero(v) && !matches!(schema, Schema::Struct { .. }) {
            continue;
        }
        put_uint(out, (i as i64 - last) as u64);
        last = i as i64;
        put_value(schema, v, out)?;
    }
    put_uint(out, 0);
    Ok(())
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::Slice(s) => s.is_empty(),
        _ => false,
    }
}

fn put_value(schema: &Schema, v: &Value, out: &mut Vec<u8>) -> Result<(), Error> {
    let mismatch = || malformed(format!("value {v:?} does not fit schema {schema:?}"));
    match (schema, v) {
        (Schema::Bool, Value::Bool(b)) => put_uint(out, u64::from(*b)),
        (Schema::Int, Value::Int(i)) => put_int(out, *i),
        (Schema::Uint, Value::Uint(u)) => put_uint(out, *u),
        (Schema::String, Value::String(s)) => put_bytes(out, s.as_bytes()),
        (Schema::Bytes, Value::Bytes(b)) => put_bytes(out, b),
        (Schema::Struct { fields, .. }, Value::Struct(_)) => struct_fields(fields, v, out)?,
        (Schema::Slice(elem), Value::Slice(items)) => {
            put_uint(out, items.len() as u64);
            for item in items {
                put_value(elem, item, out)?;
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}
