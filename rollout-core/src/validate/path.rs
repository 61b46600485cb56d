//! Field paths built on the stack and rendered only when there is something
//! to report, so that checking a valid Rollout allocates nothing.

use std::fmt;

/// A field path such as `spec.strategy.canary.steps[2].setWeight`.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Self>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
enum Segment<'a> {
    Field(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// A path starting at `name` (which may itself contain dots).
    pub(super) const fn root(name: &'a str) -> Self {
        Self {
            parent: None,
            segment: Segment::Field(name),
        }
    }

    /// `self.name`.
    pub(super) fn field(&'a self, name: &'a str) -> Self {
        Self {
            parent: Some(self),
            segment: Segment::Field(name),
        }
    }

    /// `self[i]`.
    pub(super) fn index(&'a self, i: usize) -> Self {
        Self {
            parent: Some(self),
            segment: Segment::Index(i),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match (self.parent, self.segment) {
            (None, Segment::Field(name)) => f.write_str(name),
            (Some(_), Segment::Field(name)) => write!(f, ".{name}"),
            (_, Segment::Index(i)) => write!(f, "[{i}]"),
        }
    }
}

/// `spec`.
pub(super) const SPEC: Path<'static> = Path::root("spec");
/// `spec.strategy.canary`.
pub(super) const CANARY: Path<'static> = Path::root("spec.strategy.canary");
/// `spec.strategy.blueGreen`.
pub(super) const BLUE_GREEN: Path<'static> = Path::root("spec.strategy.blueGreen");
/// `spec.strategy.canary.trafficRouting`.
pub(super) const TRAFFIC_ROUTING: Path<'static> = Path::root("spec.strategy.canary.trafficRouting");
