//! The verdict as text for a measurement's message: a summary line, then one
//! row per metric.
//!
//! ```text
//! Fail, score 50 (pass 75, marginal 50)
//! METRIC   RESULT  CANARY med/mean  BASELINE med/mean  SHIFT [98% CI]        P        REASON
//! latency  High    0.132/0.135      0.12/0.121         +0.012 [+0.008, +0.016]  3.1e-09  canary higher: ...
//! ```

use std::fmt;

use crate::score::Verdict;

/// A number in four significant digits, without trailing zeros; `-` for NaN.
pub(crate) fn number(v: f64) -> String {
    if v.is_nan() {
        return "-".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor();
    if !(-4.0..6.0).contains(&magnitude) {
        return format!("{v:.3e}").replace(".000e", "e");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", number(v))
    } else {
        number(v)
    }
}

impl fmt::Display for Verdict {
    /// The summary line and the per-metric table, columns aligned.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, score {} (pass {}, marginal {})",
            self.result,
            number(self.score),
            number(self.pass),
            number(self.marginal)
        )?;
        if let Some(reason) = &self.reason {
            write!(f, ": {reason}")?;
        }
        writeln!(f)?;
        let mut rows = vec![[
            "METRIC".to_owned(),
            "RESULT".to_owned(),
            "CANARY med/mean".to_owned(),
            "BASELINE med/mean".to_owned(),
            "SHIFT [98% CI]".to_owned(),
            "P".to_owned(),
            "REASON".to_owned(),
        ]];
        for m in &self.metrics {
            let (shift, p) = match &m.comparison {
                Some(c) => (
                    format!(
                        "{} [{}, {}]",
                        signed(c.shift.estimate),
                        signed(c.shift.lower),
                        signed(c.shift.upper)
                    ),
                    format!("{:.2e}", c.test.p_value),
                ),
                None => ("-".into(), "-".into()),
            };
            let mut result = m.classification.to_string();
            if m.muted {
                result.push_str(" (muted)");
            }
            rows.push([
                m.name.clone(),
                result,
                format!("{}/{}", number(m.canary.median), number(m.canary.mean)),
                format!("{}/{}", number(m.baseline.median), number(m.baseline.mean)),
                shift,
                p,
                m.reason.clone(),
            ]);
        }
        let mut widths = [0usize; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for (r, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
                }
            }
            f.write_str(line.trim_end())?;
            if r + 1 < rows.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(number(0.123456), "0.1235");
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-0.5), "-0.5");
        assert_eq!(number(1.5e-7), "1.500e-7");
        assert_eq!(number(f64::NAN), "-");
    }
}
