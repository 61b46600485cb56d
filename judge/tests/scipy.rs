//! The judge's statistics against SciPy's: the Mann-Whitney U statistic and
//! two-sided p-value (`scipy.stats.mannwhitneyu`, `method="auto"`) and the
//! Hodges-Lehmann estimate (NumPy's median of all pairwise differences), on
//! generated sample pairs: ties, unequal sizes, identical samples, one to
//! five values, and large samples.
//!
//! SciPy comes from PyPI through `scripts/python-env` (pinned in
//! `tests/scipy/requirements.txt`). Without python3 the test is skipped with
//! a message, except under CI, where it fails.

use std::path::Path;
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use rollgate_judge::{PValueMethod, location_shift, mann_whitney_u};
use serde_json::{Value, json};

fn pairs() -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let mut rng = StdRng::seed_from_u64(2024);
    let mut out = Vec::new();
    let continuous = |rng: &mut StdRng, n: usize, scale: f64| -> Vec<f64> {
        let d = LogNormal::new(0.0, 0.5).expect("valid parameters");
        (0..n).map(|_| scale * d.sample(rng)).collect()
    };
    let levels = |rng: &mut StdRng, n: usize, k: u32, offset: u32| -> Vec<f64> {
        (0..n)
            .map(|_| f64::from(rng.random_range(0..k) + offset))
            .collect()
    };
    for n in 1..=5 {
        for m in [1, 2, 3, 5] {
            out.push((
                format!("continuous {n}x{m}"),
                continuous(&mut rng, n, 1.0),
                continuous(&mut rng, m, 1.3),
            ));
        }
        out.push((
            format!("tied {n}x4"),
            levels(&mut rng, n, 3, 0),
            levels(&mut rng, 4, 3, 1),
        ));
    }
    for (n, m) in [(8, 8), (7, 30), (3, 200), (9, 9), (12, 20)] {
        out.push((
            format!("continuous {n}x{m}"),
            continuous(&mut rng, n, 1.0),
            continuous(&mut rng, m, 1.2),
        ));
    }
    for (n, m, k) in [
        (10, 10, 4),
        (25, 40, 6),
        (60, 35, 3),
        (200, 150, 20),
        (2, 50, 2),
    ] {
        out.push((
            format!("tied {n}x{m} in {k} levels"),
            levels(&mut rng, n, k, 1),
            levels(&mut rng, m, k, 0),
        ));
    }
    let same = continuous(&mut rng, 40, 1.0);
    out.push(("identical 40x40".into(), same.clone(), same));
    out.push(("identical constant 6x9".into(), vec![2.5; 6], vec![2.5; 9]));
    out.push(("disjoint constants 5x7".into(), vec![3.0; 5], vec![1.0; 7]));
    out.push((
        "fully separated 30x30".into(),
        (0..30).map(|i| f64::from(i) + 100.0).collect(),
        (0..30).map(f64::from).collect(),
    ));
    for (n, m) in [(500, 800), (2000, 3000), (4000, 1500)] {
        out.push((
            format!("large {n}x{m}"),
            continuous(&mut rng, n, 1.05),
            continuous(&mut rng, m, 1.0),
        ));
    }
    out.push((
        "large tied 3000x2000".into(),
        levels(&mut rng, 3000, 50, 0),
        levels(&mut rng, 2000, 50, 1),
    ));
    out
}

/// SciPy's python, or `None` (with a message) when python3 is absent outside CI.
fn python() -> Option<String> {
    let present = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 is required under CI for the SciPy comparison"
        );
        eprintln!("skipping the SciPy comparison: python3 is not installed");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-env");
    let out = Command::new(&script)
        .output()
        .expect("scripts/python-env runs");
    assert!(
        out.status.success(),
        "scripts/python-env failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .expect("a path")
            .trim()
            .to_owned(),
    )
}

fn close(ours: f64, theirs: f64, relative: f64) -> bool {
    ours == theirs
        || (ours - theirs).abs() <= relative * theirs.abs().max(ours.abs())
        || (ours < 1e-300 && theirs < 1e-300)
}

#[test]
fn statistics_match_scipy() {
    let Some(python) = python() else { return };
    let cases = pairs();
    let input: Vec<Value> = cases
        .iter()
        .map(|(_, x, y)| json!({"x": x, "y": y}))
        .collect();
    let dir = std::env::temp_dir().join(format!("rollgate-judge-scipy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let file = dir.join("pairs.json");
    std::fs::write(&file, serde_json::to_vec(&input).expect("json")).expect("write pairs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scipy/reference.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&file)
        .output()
        .expect("python runs");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "reference.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: Value = serde_json::from_slice(&out.stdout).expect("reference.py prints JSON");
    let results = reference["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    let (mut exact, mut worst_p) = (0, 0.0f64);
    for ((name, x, y), r) in cases.iter().zip(results) {
        let t = mann_whitney_u(x, y).expect("non-empty samples");
        let get = |k: &str| -> f64 {
            let text = r[k]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {k} missing"));
            text.parse()
                .unwrap_or_else(|_| panic!("{name}: {k} is {text}"))
        };
        assert_eq!(t.u, get("u"), "{name}: U");
        assert!(
            close(t.p_value, get("p"), 1e-9),
            "{name}: p {} against SciPy's {}",
            t.p_value,
            get("p")
        );
        if t.method == PValueMethod::Exact {
            exact += 1;
        } else {
            assert!(
                close(t.p_value, get("pAsymptotic"), 1e-9),
                "{name}: asymptotic p"
            );
        }
        if get("p") > 0.0 {
            worst_p = worst_p.max((t.p_value - get("p")).abs() / get("p"));
        }
        let s = location_shift(x, y, 0.98).expect("finite samples");
        assert_eq!(
            s.estimate,
            get("hodgesLehmann"),
            "{name}: Hodges-Lehmann estimate"
        );
        assert!(
            s.lower <= s.estimate && s.estimate <= s.upper,
            "{name}: {s:?}"
        );
    }
    assert!(exact >= 15, "only {exact} pairs took the exact p-value");
    eprintln!(
        "{} pairs agree with SciPy {} ({exact} exact p-values); largest relative p-value difference {worst_p:.1e}",
        cases.len(),
        reference["scipy"]
    );
}
