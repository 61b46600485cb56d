//! Go's `encoding/gob` wire format: a dynamic decoder into a [`Value`] tree
//! and an encoder for the values a net/rpc server sends back.
//!
//! A gob stream is a sequence of messages, each an unsigned byte count
//! followed by that many bytes. A message holds either a type definition
//! (a negative type id and a `wireType`) or a value (a type id and the
//! value's encoding). Types are defined once per stream, so both sides are
//! stateful: one [`Decoder`] per incoming stream, one [`Encoder`] per
//! outgoing one. Values spanning messages (an interface whose concrete type
//! is defined mid-value) are handled as Go does.
//!
//! Decoding is driven by the types the peer sends, not by Rust types: the
//! result is a tree in which struct fields are found by their Go names, and
//! fields the reader does not ask for are simply ignored, so newer peers
//! with more fields keep working. Everything read from the peer is bounded;
//! malformed input is an [`Error`], never a panic.

mod decode;
mod encode;

pub use decode::{Decoder, MAX_MESSAGE, MAX_VALUES};

/// Input that grows as bytes arrive, for decoding from an async stream:
/// append what was read, decode, and on [`Error::Eof`] rewind to the last
/// complete value and wait for more.
#[derive(Debug, Default)]
pub struct Pending {
    data: Vec<u8>,
    pos: usize,
}

impl Pending {
    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.data.len() {
            self.data.clear();
            self.pos = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// The read position, to rewind to.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Rewinds (or advances) to a position returned by [`Pending::position`].
    pub fn set_position(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// Drops the bytes before the read position.
    pub fn compact(&mut self) {
        self.data.drain(..self.pos);
        self.pos = 0;
    }
}

impl std::io::Read for Pending {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
pub use encode::{Encoder, Schema};

/// A decoded gob value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `bool`.
    Bool(bool),
    /// Any signed integer type.
    Int(i64),
    /// Any unsigned integer type.
    Uint(u64),
    /// `float32`/`float64`.
    Float(f64),
    /// `complex64`/`complex128` as (real, imaginary).
    Complex(f64, f64),
    /// `[]byte`.
    Bytes(Vec<u8>),
    /// `string` (invalid UTF-8 replaced).
    String(String),
    /// A struct: the fields that were sent (zero-valued fields are not), by Go name.
    Struct(Vec<(String, Self)>),
    /// A slice.
    Slice(Vec<Self>),
    /// An array.
    Array(Vec<Self>),
    /// A map, in the order sent.
    Map(Vec<(Self, Self)>),
    /// An interface: `None` for nil, else the registered type name and the value.
    Interface(Option<(String, Box<Self>)>),
    /// A value a `GobEncoder`, `BinaryMarshaler` or `TextMarshaler` wrote as bytes.
    Encoded(Vec<u8>),
}

impl Value {
    /// The field of a struct (also through an interface), if it was sent.
    ///
    /// ```
    /// use plugin_proto::gob::Value;
    /// let v = Value::Struct(vec![("Name".into(), Value::String("web".into()))]);
    /// assert_eq!(v.field("Name").and_then(Value::as_str), Some("web"));
    /// assert_eq!(v.field("Namespace"), None);
    /// ```
    pub fn field(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            Self::Interface(Some((_, v))) => v.field(name),
            _ => None,
        }
    }

    /// Follows a path of field names.
    pub fn path(&self, names: &[&str]) -> Option<&Self> {
        names.iter().try_fold(self, |v, n| v.field(n))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `[]byte` (or a string's bytes).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(b) | Self::Encoded(b) => Some(b),
            Self::String(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The integer, if this is a signed or unsigned one that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Uint(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// The elements of a slice or array (empty for anything else).
    pub fn elements(&self) -> &[Self] {
        match self {
            Self::Slice(v) | Self::Array(v) => v,
            _ => &[],
        }
    }

    /// The value of a map entry whose key is this string.
    pub fn map_get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why a gob stream could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream ended (cleanly between messages: `at_boundary`).
    #[error("gob: unexpected end of stream")]
    Eof {
        /// True when no byte of a new message had been read.
        at_boundary: bool,
    },
    /// The bytes do not follow the gob format.
    #[error("gob: {0}")]
    Malformed(String),
    /// Reading from or writing to the underlying stream failed.
    #[error("gob: {0}")]
    Io(String),
}

pub(crate) fn malformed(message: impl Into<String>) -> Error {
    Error::Malformed(message.into())
}

/// Builtin type ids.
pub(crate) mod ids {
    pub(crate) const BOOL: i64 = 1;
    pub(crate) const INT: i64 = 2;
    pub(crate) const UINT: i64 = 3;
    pub(crate) const FLOAT: i64 = 4;
    pub(crate) const BYTES: i64 = 5;
    pub(crate) const STRING: i64 = 6;
    pub(crate) const COMPLEX: i64 = 7;
    pub(crate) const INTERFACE: i64 = 8;
    pub(crate) const WIRE_TYPE: i64 = 16;
    pub(crate) const ARRAY_TYPE: i64 = 17;
    pub(crate) const COMMON_TYPE: i64 = 18;
    pub(crate) const SLICE_TYPE: i64 = 19;
    pub(crate) const STRUCT_TYPE: i64 = 20;
    pub(crate) const FIELD_TYPE: i64 = 21;
    pub(crate) const FIELD_TYPE_SLICE: i64 = 22;
    pub(crate) const MAP_TYPE: i64 = 23;
    pub(crate) const GOB_ENCODER_TYPE: i64 = 24;
    /// The first id this crate's encoder assigns.
    pub(crate) const FIRST_USER: i64 = 65;
}

/// Appends a gob unsigned integer.
pub(crate) fn put_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
        return;
    }
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    let len = bytes.len() - skip;
    out.push((256 - len) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends a gob signed integer.
pub(crate) fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        (!(i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

/// Appends a gob string or byte slice.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_encode_as_the_go_documentation_says() {
        let enc = |n: u64| {
            let mut v = Vec::new();
            put_uint(&mut v, n);
            v
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(7), [0x07]);
        assert_eq!(enc(256), [0xFE, 0x01, 0x00]);
        let mut v = Vec::new();
        put_int(&mut v, -129);
        assert_eq!(v, [0xFE, 0x01, 0x01]);
    }

    #[test]
    fn a_message_of_many_tiny_values_is_refused_not_expanded() {
        let schema = Schema::Slice(Box::new(Schema::Bool));
        let mut enc = Encoder::new();
        let small = Value::Slice(vec![Value::Bool(true); 1000]);
        let bytes = enc.encode(&schema, &small).unwrap();
        assert_eq!(Decoder::new(&bytes[..]).decode().unwrap(), small);

        let huge = Value::Slice(vec![Value::Bool(false); MAX_VALUES]);
        let bytes = Encoder::new().encode(&schema, &huge).unwrap();
        let err = Decoder::new(&bytes[..]).decode().unwrap_err();
        assert!(err.to_string().contains("values in one message"), "{err}");
    }
}
