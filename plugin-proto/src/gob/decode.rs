//! The gob decoder: messages in, [`Value`] trees out.

use std::collections::HashMap;
use std::io::Read;

use super::{Error, Value, ids, malformed};

/// The largest message accepted (Go's own limit is 1 GiB; a traffic-router
/// call carrying a whole Rollout is a few tens of KiB).
pub const MAX_MESSAGE: usize = 64 << 20;

/// How deeply values may nest.
const MAX_DEPTH: usize = 100;

/// The longest interface type name Go sends.
const MAX_NAME: usize = 1024;

/// Most values one top-level value may hold. Every value takes at least one
/// byte on the wire but tens of bytes decoded, so this caps the memory a
/// peer can make a [`MAX_MESSAGE`]-sized message cost.
pub const MAX_VALUES: usize = 1 << 20;

/// A type as the peer defined it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WireType {
    Array {
        elem: i64,
        len: u64,
    },
    Slice {
        elem: i64,
    },
    Struct {
        fields: Vec<(String, i64)>,
    },
    Map {
        key: i64,
        elem: i64,
    },
    /// GobEncoder, BinaryMarshaler or TextMarshaler: bytes.
    Encoded,
}

/// Reads gob values from one stream, keeping the types it defines.
#[derive(Debug)]
pub struct Decoder<R> {
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    /// Values decoded so far in the current top-level value.
    values: usize,
    types: HashMap<i64, WireType>,
}

impl<R: Read> Decoder<R> {
    /// A decoder for a fresh stream.
    pub fn new(reader: R) -> Self {
        let s = |fields: &[(&str, i64)]| WireType::Struct {
            fields: fields
                .iter()
                .map(|(n, id)| ((*n).to_owned(), *id))
                .collect(),
        };
        let common = ("CommonType", ids::COMMON_TYPE);
        let types = HashMap::from([
            (
                ids::WIRE_TYPE,
                s(&[
                    ("ArrayT", ids::ARRAY_TYPE),
                    ("SliceT", ids::SLICE_TYPE),
                    ("StructT", ids::STRUCT_TYPE),
                    ("MapT", ids::MAP_TYPE),
                    ("GobEncoderT", ids::GOB_ENCODER_TYPE),
                    ("BinaryMarshalerT", ids::GOB_ENCODER_TYPE),
                    ("TextMarshalerT", ids::GOB_ENCODER_TYPE),
                ]),
            ),
            (
                ids::ARRAY_TYPE,
                s(&[common, ("Elem", ids::INT), ("Len", ids::INT)]),
            ),
            (
                ids::COMMON_TYPE,
                s(&[("Name", ids::STRING), ("Id", ids::INT)]),
            ),
            (ids::SLICE_TYPE, s(&[common, ("Elem", ids::INT)])),
            (
                ids::STRUCT_TYPE,
                s(&[common, ("Field", ids::FIELD_TYPE_SLICE)]),
            ),
            (
                ids::FIELD_TYPE,
                s(&[("Name", ids::STRING), ("Id", ids::INT)]),
            ),
            (
                ids::FIELD_TYPE_SLICE,
                WireType::Slice {
                    elem: ids::FIELD_TYPE,
                },
            ),
            (
                ids::MAP_TYPE,
                s(&[common, ("Key", ids::INT), ("Elem", ids::INT)]),
            ),
            (ids::GOB_ENCODER_TYPE, s(&[common])),
        ]);
        Self {
            reader,
            buf: Vec::new(),
            pos: 0,
            values: 0,
            types,
        }
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Forgets a partly read message, so that decoding can start again from
    /// a message boundary of the reader (after it has been rewound). Types
    /// already defined are kept; receiving their definitions again is fine.
    pub fn discard_partial(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    /// Reads the next value, with any type definitions before it.
    ///
    /// ```
    /// use plugin_proto::gob::{Decoder, Value};
    /// // Go's `enc.Encode("hi")`: one message, type id 6 (string), singleton.
    /// let bytes = [0x05, 0x0c, 0x00, 0x02, b'h', b'i'];
    /// let mut dec = Decoder::new(&bytes[..]);
    /// assert_eq!(dec.decode().unwrap(), Value::String("hi".into()));
    /// ```
    pub fn decode(&mut self) -> Result<Value, Error> {
        let id = self.type_sequence(false)?;
        self.values = 0;
        let value = self.top_value(id, 0)?;
        if self.pos < self.buf.len() {
            return Err(malformed(format!(
                "{} bytes left over after a value",
                self.buf.len() - self.pos
            )));
        }
        Ok(value)
    }

    /// Loads the next message into the buffer.
    fn recv_message(&mut self) -> Result<(), Error> {
        let mut first = [0u8; 1];
        match self.reader.read(&mut first) {
            Ok(0) => return Err(Error::Eof { at_boundary: true }),
            Ok(_) => {}
            Err(e) => return Err(Error::Io(e.to_string())),
        }
        let count = if first[0] < 0x80 {
            u64::from(first[0])
        } else {
            let n = 256 - usize::from(first[0]);
            if n > 8 {
                return Err(malformed("bad message length"));
            }
            let mut bytes = [0u8; 8];
            self.read_exact(&mut bytes[8 - n..])?;
            u64::from_be_bytes(bytes)
        };
        let count = usize::try_from(count)
            .ok()
            .filter(|c| *c <= MAX_MESSAGE)
            .ok_or_else(|| {
                malformed(format!(
                    "a message of {count} bytes, more than the limit of {MAX_MESSAGE} bytes"
                ))
            })?;
        if count == 0 {
            return Err(malformed("empty message"));
        }
        // Read as the bytes arrive rather than allocating the claimed size
        // up front: a peer's length prefix is not trusted with memory.
        self.buf.clear();
        self.pos = 0;
        let read = (&mut self.reader)
            .take(count as u64)
            .read_to_end(&mut self.buf)
            .map_err(|e| Error::Io(e.to_string()))?;
        if read < count {
            return Err(Error::Eof { at_boundary: false });
        }
        Ok(())
    }

    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), Error> {
        self.reader.read_exact(out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Eof { at_boundary: false }
            } else {
                Error::Io(e.to_string())
            }
        })
    }

    /// Type definitions until a value's type id (Go's `decodeTypeSequence`).
    fn type_sequence(&mut self, in_interface: bool) -> Result<i64, Error> {
        loop {
            if self.pos >= self.buf.len() {
                self.recv_message()?;
            }
            let id = self.int()?;
            if id >= 0 {
                return Ok(id);
            }
            let id = id.checked_neg().ok_or_else(|| malformed("bad type id"))?;
            self.recv_type(id)?;
            if self.pos < self.buf.len() {
                if !in_interface {
                    return Err(malformed("extra data after a type definition"));
                }
                // The next delimited message starts here; its count is not needed.
                self.uint()?;
            }
        }
    }

    fn recv_type(&mut self, id: i64) -> Result<(), Error> {
        let def = self.decode_struct(ids::WIRE_TYPE, 0)?;
        let common = |t: &Value| {
            t.path(&["CommonType", "Id"])
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let int = |t: &Value, f: &str| t.field(f).and_then(Value::as_i64).unwrap_or(0);
        let wire = if let Some(t) = def.field("ArrayT") {
            let len =
                u64::try_from(int(t, "Len")).map_err(|_| malformed("negative array length"))?;
            (
                common(t),
                WireType::Array {
                    elem: int(t, "Elem"),
                    len,
                },
            )
        } else if let Some(t) = def.field("SliceT") {
            (
                common(t),
                WireType::Slice {
                    elem: int(t, "Elem"),
                },
            )
        } else if let Some(t) = def.field("StructT") {
            let fields = t
                .field("Field")
                .map(Value::elements)
                .unwrap_or_default()
                .iter()
                .map(|f| {
                    let name = f
                        .field("Name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    (name, int(f, "Id"))
                })
                .collect();
            (common(t), WireType::Struct { fields })
        } else if let Some(t) = def.field("MapT") {
            (
                common(t),
                WireType::Map {
                    key: int(t, "Key"),
                    elem: int(t, "Elem"),
                },
            )
        } else if let Some(t) = ["GobEncoderT", "BinaryMarshalerT", "TextMarshalerT"]
            .iter()
            .find_map(|f| def.field(f))
        {
            (common(t), WireType::Encoded)
        } else {
            return Err(malformed(format!("type {id} defines no kind of type")));
        };
        let (inner_id, wire) = wire;
        if inner_id != 0 && inner_id != id {
            return Err(malformed(format!("type {id} says its id is {inner_id}")));
        }
        match self.types.get(&id) {
            Some(existing) if *existing == wire => Ok(()),
            Some(_) => Err(malformed(format!("type {id} defined twice"))),
            None if id < ids::FIRST_USER - 1 => Err(malformed(format!("type id {id} is reserved"))),
            None => {
                self.types.insert(id, wire);
                Ok(())
            }
        }
    }

    /// A value as sent at the top of a message or inside an interface:
    /// structs as they are, anything else as a one-field struct.
    fn top_value(&mut self, id: i64, depth: usize) -> Result<Value, Error> {
        if matches!(self.types.get(&id), Some(WireType::Struct { .. })) {
            return self.decode_struct(id, depth);
        }
        if self.uint()? != 0 {
            return Err(malformed("non-zero field delta for a single value"));
        }
        self.value(id, depth)
    }

    fn value(&mut self, id: i64, depth: usize) -> Result<Value, Error> {
        if depth > MAX_DEPTH {
            return Err(malformed("values nest too deeply"));
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(malformed(format!(
                "more than {MAX_VALUES} values in one message"
            )));
        }
        Ok(match id {
            ids::BOOL => Value::Bool(self.uint()? != 0),
            ids::INT => Value::Int(self.int()?),
            ids::UINT => Value::Uint(self.uint()?),
            ids::FLOAT => Value::Float(self.float()?),
            ids::BYTES => Value::Bytes(self.bytes()?.to_vec()),
            ids::STRING => Value::String(String::from_utf8_lossy(self.bytes()?).into_owned()),
            ids::COMPLEX => Value::Complex(self.float()?, self.float()?),
            ids::INTERFACE => self.interface(depth)?,
            _ => match self.types.get(&id).cloned() {
                None => return Err(malformed(format!("unknown type id {id}"))),
                Some(WireType::Struct { .. }) => self.decode_struct(id, depth + 1)?,
                Some(WireType::Slice { elem }) => {
                    let n = self.count()?;
                    Value::Slice(self.values(elem, n, depth)?)
                }
                Some(WireType::Array { elem, len }) => {
                    let n = self.count()?;
                    if n as u64 != len {
                        return Err(malformed(format!("array of {len} sent with {n} elements")));
                    }
                    Value::Array(self.values(elem, n, depth)?)
                }
                Some(WireType::Map { key, elem }) => {
                    let n = self.count()?;
                    let mut entries = Vec::with_capacity(n.min(1024));
                    for _ in 0..n {
                        let k = self.value(key, depth + 1)?;
                        let v = self.value(elem, depth + 1)?;
                        entries.push((k, v));
                    }
                    Value::Map(entries)
                }
                Some(WireType::Encoded) => Value::Encoded(self.bytes()?.to_vec()),
            },
        })
    }

    fn values(&mut self, elem: i64, n: usize, depth: usize) -> Result<Vec<Value>, Error> {
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(self.value(elem, depth + 1)?);
        }
        Ok(out)
    }

    fn decode_struct(&mut self, id: i64, depth: usize) -> Result<Value, Error> {
        let Some(WireType::Struct { fields }) = self.types.get(&id).cloned() else {
            return Err(malformed(format!("type {id} is not a struct")));
        };
        let mut out = Vec::new();
        let mut field: i64 = -1;
        while self.pos < self.buf.len() {
            let delta = self.uint()?;
            if delta == 0 {
                break;
            }
            field = i64::try_from(delta)
                .ok()
                .and_then(|d| field.checked_add(d))
                .ok_or_else(|| malformed("bad field delta"))?;
            let (name, field_id) = usize::try_from(field)
                .ok()
                .and_then(|i| fields.get(i))
                .ok_or_else(|| {
                    malformed(format!(
                        "field {field} of a struct with {} fields",
                        fields.len()
                    ))
                })?;
            let value = self.value(*field_id, depth + 1)?;
            out.push((name.clone(), value));
        }
        Ok(Value::Struct(out))
    }

    fn interface(&mut self, depth: usize) -> Result<Value, Error> {
        let len = self.count()?;
        if len == 0 {
            return Ok(Value::Interface(None));
        }
        if len > MAX_NAME {
            return Err(malformed(format!("interface type name of {len} bytes")));
        }
        let name = String::from_utf8_lossy(self.take(len)?).into_owned();
        let id = self.type_sequence(true)?;
        self.uint()?; // byte count of the value, for skipping; not needed
        let value = self.top_value(id, depth + 1)?;
        Ok(Value::Interface(Some((name, Box::new(value)))))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| malformed("value runs past the end of its message"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn uint(&mut self) -> Result<u64, Error> {
        let first = *self.take(1)?.first().unwrap_or(&0);
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let n = 256 - usize::from(first);
        if n > 8 {
            return Err(malformed("bad unsigned integer"));
        }
        let mut bytes = [0u8; 8];
        bytes[8 - n..].copy_from_slice(self.take(n)?);
        Ok(u64::from_be_bytes(bytes))
    }

    fn int(&mut self) -> Result<i64, Error> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !(u >> 1) as i64
        } else {
            (u >> 1) as i64
        })
    }

    fn float(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.uint()?.swap_bytes()))
    }

    /// A length that cannot exceed what is left of the message (every
    /// element takes at least one byte).
    fn count(&mut self) -> Result<usize, Error> {
        let n = self.uint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.buf.len() - self.pos)
            .ok_or_else(|| malformed(format!("count {n} exceeds the message")))
    }

    fn bytes(&mut self) -> Result<&[u8], Error> {
        let n = self.count()?;
        self.take(n)
    }
}
