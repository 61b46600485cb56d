//! Where each field of an object is written: a field path → line index.

/// The line of every field and list item of one object, built while its YAML
/// is read. Field paths are the ones errors use
/// (`spec.strategy.canary.steps[2].setWeight`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex(pub(crate) LineNode);

/// One node of a [`LineIndex`]: the line where the field or item is written
/// (for a mapping entry, the line of its key) and its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineNode {
    /// A scalar.
    Leaf(usize),
    /// A list and its items.
    Seq(usize, Vec<Self>),
    /// A mapping and its entries, by key.
    Map(usize, Vec<(Box<str>, Self)>),
}

impl LineNode {
    pub(crate) fn line(&self) -> usize {
        match self {
            Self::Leaf(l) | Self::Seq(l, _) | Self::Map(l, _) => *l,
        }
    }

    pub(crate) fn set_line(&mut self, line: usize) {
        match self {
            Self::Leaf(l) | Self::Seq(l, _) | Self::Map(l, _) => *l = line,
        }
    }

    /// The child under mapping key `key`.
    pub(crate) fn child(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Map(_, entries) => entries.iter().find(|(k, _)| &**k == key).map(|(_, n)| n),
            _ => None,
        }
    }
}

impl LineIndex {
    /// The line of the field at `path`, or of its nearest enclosing field that
    /// is written (a missing field is reported where its parent is). An empty
    /// path is the object's first line.
    ///
    /// Mapping keys may contain dots (`rollout.argoproj.io/revision`): the
    /// longest key that matches wins. `[N]` indexes a list; `["key"]` and
    /// `[key]` name a mapping key too.
    pub fn line_of(&self, path: &str) -> usize {
        let mut node = &self.0;
        let mut rest = path;
        loop {
            rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.is_empty() {
                return node.line();
            }
            match step(node, rest) {
                Some((child, after)) => {
                    node = child;
                    rest = after;
                }
                None => return node.line(),
            }
        }
    }

    /// The index of the field at `key` of this object's top-level mapping.
    pub(crate) fn child(&self, key: &str) -> Option<&LineNode> {
        self.0.child(key)
    }
}

/// One step down the path: the child matched by the start of `rest`, and what follows.
fn step<'n, 'p>(node: &'n LineNode, rest: &'p str) -> Option<(&'n LineNode, &'p str)> {
    if let Some(inner) = rest.strip_prefix('[') {
        let end = inner.find(']')?;
        let (key, after) = (&inner[..end], &inner[end + 1..]);
        return match node {
            LineNode::Seq(_, items) => items.get(key.parse::<usize>().ok()?).map(|n| (n, after)),
            LineNode::Map(..) => node.child(key.trim_matches('"')).map(|n| (n, after)),
            LineNode::Leaf(_) => None,
        };
    }
    let LineNode::Map(_, entries) = node else {
        return None;
    };
    entries
        .iter()
        .filter(|(k, _)| {
            rest.strip_prefix(&**k)
                .is_some_and(|after| after.is_empty() || after.starts_with(['.', '[']))
        })
        .max_by_key(|(k, _)| k.len())
        .map(|(k, n)| (n, &rest[k.len()..]))
}
