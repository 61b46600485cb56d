//! YAML text to JSON values, with the line of every field.
//!
//! Events from a streaming parser are assembled into `serde_json` values and
//! a [`LineNode`] tree side by side. The work is linear in the input: the
//! nesting depth and the values that aliases add are capped, and reading
//! stops at the first problem, so hostile input is refused early instead of
//! parsed for minutes.
//!
//! Plain scalars resolve by the YAML 1.2 core schema (as the files' other
//! readers in this repository always have): `yes`, `on` and `no` are
//! strings, not booleans as in YAML 1.1 (where Kubernetes' own reader would
//! turn them into `true`/`false`). Quote such values to be portable.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Number, Value};

use super::Limits;
use super::lines::LineNode;

/// One YAML document: its value, the lines of its fields and where it starts.
pub(crate) struct Doc {
    pub(crate) value: Value,
    pub(crate) lines: LineNode,
    pub(crate) line: usize,
}

/// A problem at a line of the text.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, YamlError> {
    Err(YamlError {
        line,
        message: message.into(),
    })
}

/// A finished node: its value, lines, how many values it holds, and for a
/// scalar the text it was written as (used when it is a mapping key).
#[derive(Clone)]
struct Done {
    value: Value,
    lines: LineNode,
    count: usize,
    key: Option<(String, bool)>,
}

/// The key whose value comes next in a mapping.
enum Key {
    /// A field and the line of its key.
    Field(String, usize),
    /// `<<` at this line: the value is merged in.
    Merge(usize),
}

enum Frame {
    Seq {
        anchor: usize,
        line: usize,
        items: Vec<Value>,
        lines: Vec<LineNode>,
        count: usize,
    },
    Map {
        anchor: usize,
        line: usize,
        entries: Map<String, Value>,
        lines: Vec<(Box<str>, LineNode)>,
        key: Option<Key>,
        merges: Vec<(Done, usize)>,
        count: usize,
    },
}

/// Reads every document of `text`.
pub(crate) fn documents(text: &str, limits: &Limits) -> Result<Vec<Doc>, YamlError> {
    let mut b = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        aliased: 0,
        root: None,
        docs: Vec::new(),
        doc_line: 1,
    };
    for event in Parser::new_from_str(text).keep_tags(true) {
        let (event, span) = event.map_err(|e| scan_error(&e, limits))?;
        b.event(event, span.start.line().max(1))?;
    }
    Ok(b.docs)
}

fn scan_error(e: &ScanError, limits: &Limits) -> YamlError {
    let message = match e.info() {
        // The scanner's own cap, which it may reach while looking ahead.
        "recursion limit exceeded" => deep(limits),
        info => format!("not valid YAML: {info}"),
    };
    YamlError {
        line: e.marker().line().max(1),
        message,
    }
}

fn deep(limits: &Limits) -> String {
    format!("values nested more than {} levels deep", limits.max_depth)
}

struct Builder<'l> {
    limits: &'l Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Done>,
    aliased: usize,
    root: Option<Done>,
    docs: Vec<Doc>,
    doc_line: usize,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(_) => {
                self.anchors.clear();
                self.root = None;
                self.doc_line = line;
            }
            Event::DocumentEnd => {
                let (value, lines) = match self.root.take() {
                    Some(d) => (d.value, d.lines),
                    None => (Value::Null, LineNode::Leaf(self.doc_line)),
                };
                let line = lines.line();
                self.docs.push(Doc { value, lines, line });
            }
            Event::SequenceStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Seq {
                    anchor,
                    line,
                    items: Vec::new(),
                    lines: Vec::new(),
                    count: 1,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.enter(line)?;
                self.stack.push(Frame::Map {
                    anchor,
                    line,
                    entries: Map::new(),
                    lines: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    count: 1,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let frame = self.stack.pop().expect("the parser balances start and end");
                let (anchor, done) = finish(frame)?;
                self.done(anchor, done)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar(&text, style, tag.as_deref(), line)?;
                let merge = style == ScalarStyle::Plain && text == "<<";
                let done = Done {
                    value,
                    lines: LineNode::Leaf(line),
                    count: 1,
                    key: Some((text.into_owned(), merge)),
                };
                self.done(anchor, done)?;
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(&id) else {
                    return err(
                        line,
                        "an alias (*name) refers to no anchor (&name) before it",
                    );
                };
                // Counted before copying, so a bomb is refused before it goes off.
                self.aliased += anchored.count;
                if self.aliased > self.limits.max_alias_values {
                    return err(
                        line,
                        format!(
                            "aliases (*name) expand to more than {} values",
                            self.limits.max_alias_values
                        ),
                    );
                }
                let done = anchored.clone();
                self.done(0, done)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn enter(&self, line: usize) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return err(line, deep(self.limits));
        }
        Ok(())
    }

    /// Attaches a finished node to its parent (or makes it the document).
    fn done(&mut self, anchor: usize, done: Done) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, done.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(done),
            Some(Frame::Seq {
                items,
                lines,
                count,
                ..
            }) => {
                *count += done.count;
                items.push(done.value);
                lines.push(done.lines);
            }
            Some(Frame::Map {
                entries,
                lines,
                key,
                merges,
                count,
                ..
            }) => match key.take() {
                None => {
                    let line = done.lines.line();
                    let Some((text, merge)) = done.key else {
                        return err(
                            line,
                            "a mapping key must be a plain value, not a list or a mapping",
                        );
                    };
                    if merge {
                        *key = Some(Key::Merge(line));
                        return Ok(());
                    }
                    if entries.contains_key(&text) {
                        let first = lines
                            .iter()
                            .find(|(k, _)| **k == *text)
                            .map_or(line, |(_, n)| n.line());
                        return err(
                            line,
                            format!("duplicate key \"{text}\" (first written at line {first})"),
                        );
                    }
                    *key = Some(Key::Field(text, line));
                }
                Some(Key::Merge(line)) => {
                    *count += done.count;
                    merges.push((done, line));
                }
                Some(Key::Field(k, line)) => {
                    *count += done.count;
                    let mut node = done.lines;
                    node.set_line(line);
                    entries.insert(k.clone(), done.value);
                    lines.push((k.into_boxed_str(), node));
                }
            },
        }
        Ok(())
    }
}

/// Closes a list or mapping: applies `<<` merges to a mapping.
fn finish(frame: Frame) -> Result<(usize, Done), YamlError> {
    match frame {
        Frame::Seq {
            anchor,
            line,
            items,
            lines,
            count,
        } => Ok((
            anchor,
            Done {
                value: Value::Array(items),
                lines: LineNode::Seq(line, lines),
                count,
                key: None,
            },
        )),
        Frame::Map {
            anchor,
            line,
            mut entries,
            mut lines,
            merges,
            count,
            ..
        } => {
            for (merged, at) in merges {
                let sources = match (merged.value, merged.lines) {
                    (Value::Object(m), l) => vec![(m, l)],
                    (Value::Array(items), LineNode::Seq(_, ls)) => {
                        let mut sources = Vec::new();
                        for (v, l) in items.into_iter().zip(ls) {
                            let Value::Object(m) = v else {
                                return err(at, "`<<` merges a mapping or a list of mappings");
                            };
                            sources.push((m, l));
                        }
                        sources
                    }
                    _ => return err(at, "`<<` merges a mapping or a list of mappings"),
                };
                for (m, l) in sources {
                    let mut from: HashMap<Box<str>, LineNode> = match l {
                        LineNode::Map(_, ls) => ls.into_iter().collect(),
                        _ => HashMap::new(),
                    };
                    for (k, v) in m {
                        if entries.contains_key(&k) {
                            continue;
                        }
                        let node = from.remove(k.as_str()).unwrap_or(LineNode::Leaf(at));
                        lines.push((k.clone().into_boxed_str(), node));
                        entries.insert(k, v);
                    }
                }
            }
            Ok((
                anchor,
                Done {
                    value: Value::Object(entries),
                    lines: LineNode::Map(line, lines),
                    count,
                    key: None,
                },
            ))
        }
    }
}

/// The value of a scalar: quoted and block scalars are strings; plain ones
/// resolve by the YAML 1.2 core schema; a core-schema tag (`!!str`,
/// `!!int`, ...) forces its type; other tags are ignored.
fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Value, YamlError> {
    let core = tag
        .filter(|t| t.is_yaml_core_schema())
        .map(|t| t.suffix.as_str());
    let plain = style == ScalarStyle::Plain;
    let resolved = || plain_value(text);
    let wrong = |what: &str| err(line, format!("{text:?} is not {what}, as its tag says"));
    match core {
        Some("str") | Some("binary") | Some("timestamp") => Ok(Value::String(text.to_owned())),
        Some("int") => match plain_value(text) {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::Number(n)),
            _ => wrong("an integer"),
        },
        Some("float") => match plain_value(text) {
            v @ Value::Number(_) => Ok(v),
            _ => wrong("a number"),
        },
        Some("bool") => match plain_value(text) {
            v @ Value::Bool(_) => Ok(v),
            _ => wrong("true or false"),
        },
        Some("null") => match plain_value(text) {
            Value::Null => Ok(Value::Null),
            _ => wrong("null"),
        },
        _ if plain => Ok(resolved()),
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn plain_value(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x").filter(|s| digits(s, 16)) {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return Value::Number(n.into());
        }
    } else if let Some(oct) = text.strip_prefix("0o").filter(|s| digits(s, 8)) {
        if let Ok(n) = u64::from_str_radix(oct, 8) {
            return Value::Number(n.into());
        }
    } else if digits(unsigned.strip_prefix('-').unwrap_or(unsigned), 10) {
        if let Ok(n) = unsigned.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = unsigned.parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if is_float(unsigned)
        && let Some(n) = unsigned.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

/// `-?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, the core schema's float
/// (infinities and NaN stay strings: JSON has no such numbers).
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let all_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = all_digits(int)
        && frac.is_none_or(all_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}
