//! Reading objects from files or standard input, every problem as
//! `FILE:LINE: namespace/name: field: message`.

use std::io::Read;
use std::path::Path;

use rollout_core::manifest::{self, Limits, Object};
use rollout_core::{Diagnostic, FieldError, Rollout};

/// How standard input (`-`) is named in messages.
pub(crate) const STDIN: &str = "stdin";

/// The name a path is shown by: `stdin` for `-`.
pub(crate) fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        STDIN.to_owned()
    } else {
        path.display().to_string()
    }
}

/// Reads every object of a YAML file (`-`: standard input).
pub(crate) fn objects(path: &Path) -> Result<Vec<Object>, Diagnostic> {
    let text = read(path)?;
    manifest::read_with(&text, &display_name(path), &Limits::default())
}

/// The text of a file (`-`: standard input), at most [`Limits::max_bytes`]
/// of UTF-8; a problem names the file (and for bad UTF-8, the line).
pub(crate) fn read(path: &Path) -> Result<String, Diagnostic> {
    let max = Limits::default().max_bytes;
    let fail = |message: String| Diagnostic {
        file: display_name(path),
        line: None,
        object: None,
        field: FieldError::new("", message),
    };
    let mut bytes = Vec::new();
    // One byte more than the limit tells an oversized input apart.
    let read = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(max as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(max as u64 + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| fail(format!("cannot read: {}", io_words(&e))))?;
    if bytes.len() > max {
        return Err(fail(format!("larger than the limit of {max} bytes")));
    }
    String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Diagnostic {
            line: Some(line),
            ..fail("not UTF-8 text".to_owned())
        }
    })
}

/// An I/O error without Rust's `(os error 2)` suffix.
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_owned()
        }
    }
}

/// The first Rollout of a file, for `rollgate demo FILE`: it must be one
/// the engine can run, so every validation problem is an error here.
pub(crate) fn first_rollout(path: &Path) -> anyhow::Result<Rollout> {
    let objects = objects(path)?;
    let Some(object) = objects.iter().find(|o| o.is_rollout()) else {
        anyhow::bail!("{}: no Rollout in this file", display_name(path));
    };
    let rollout = object.rollout()?;
    let problems: Vec<_> = rollout_core::validate(&rollout)
        .into_iter()
        .map(|e| object.diagnostic(e))
        .collect();
    if !problems.is_empty() {
        return Err(Problems(problems).into());
    }
    Ok(rollout)
}

/// Several problems, one per line.
#[derive(Debug)]
pub(crate) struct Problems(pub(crate) Vec<Diagnostic>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<_> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// Every Rollout of YAML text (at least one); `source` names it in errors.
pub(crate) fn rollouts_from_str(text: &str, source: &str) -> anyhow::Result<Vec<Rollout>> {
    let objects = manifest::read(text, source)?;
    let rollouts = objects
        .iter()
        .filter(|o| o.is_rollout())
        .map(Object::rollout)
        .collect::<Result<Vec<_>, _>>()?;
    if rollouts.is_empty() {
        anyhow::bail!("{source}: no Rollout in this file");
    }
    Ok(rollouts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_rollouts_is_an_error() {
        let err = rollouts_from_str("kind: Service\n", "s.yaml").unwrap_err();
        assert_eq!(err.to_string(), "s.yaml: no Rollout in this file");
    }

    #[test]
    fn other_kinds_are_skipped() {
        let text = "kind: Service\nmetadata: {name: s}\n---\nkind: Rollout\nmetadata: {name: r}\nspec: {}\n";
        let found = rollouts_from_str(text, "app.yaml").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].metadata.name, "r");
    }
}
