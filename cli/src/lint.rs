//! `rollgate lint`: one line per problem, `FILE:LINE: namespace/name: field:
//! message`, and an exit code scripts can use.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use rollout_core::FieldError;

use crate::{findings, load};

/// Lints every Rollout of every file. Exit 0 when all are valid (features
/// Rollgate does not run yet are warnings, errors with `strict`; settings
/// without effect are always warnings), 1 otherwise.
pub(crate) fn command(
    files: &[PathBuf],
    strict: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut invalid = false;
    for path in files {
        let objects = match load::objects(path) {
            Ok(objects) => objects,
            Err(e) => {
                invalid = true;
                writeln!(out, "{e}")?;
                continue;
            }
        };
        let rollouts: Vec<_> = objects.iter().filter(|o| o.is_rollout()).collect();
        if rollouts.is_empty() {
            writeln!(
                out,
                "{}: note: no Rollout in this file, skipped",
                load::display_name(path)
            )?;
            continue;
        }
        for object in rollouts {
            let rollout = match object.rollout() {
                Ok(r) => r,
                Err(e) => {
                    invalid = true;
                    writeln!(out, "{e}")?;
                    continue;
                }
            };
            let found = findings::of(&rollout);
            for e in &found.errors {
                writeln!(out, "{}", object.diagnostic(e.clone()))?;
            }
            let label = if strict { "error" } else { "warning" };
            for e in &found.unsupported {
                let e = FieldError::new(&e.path, format!("{label}: {}", e.message));
                writeln!(out, "{}", object.diagnostic(e))?;
            }
            for e in &found.suspicious {
                let e = FieldError::new(&e.path, format!("warning: {}", e.message));
                writeln!(out, "{}", object.diagnostic(e))?;
            }
            let bad = !found.errors.is_empty() || (strict && !found.unsupported.is_empty());
            invalid |= bad;
            if !bad {
                let valid = match found.unsupported.len() + found.suspicious.len() {
                    0 => "valid".to_owned(),
                    1 => "valid, with 1 warning".to_owned(),
                    n => format!("valid, with {n} warnings"),
                };
                writeln!(out, "{}", object.diagnostic(FieldError::new("", valid)))?;
            }
        }
    }
    Ok(if invalid {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
