//! The live demo's frames, drawn as plain text against the data plane:
//! the measured split moves through 20, 50 and 80 % to version 2's
//! promotion, then version 3 (20 % errors) is seen failing at 20 %, the
//! Rollout aborts, and the last frames have version 2 answering every
//! request with Traefik back at 100/0. Under `rollgate-controller`, like
//! the demo. Skips without the data plane or Prometheus, saying why.

mod support;

use support::demo::{self, Frame, Options};

/// The first frame from `from` on that satisfies `check`, by index.
fn first(frames: &[Frame], from: usize, check: impl Fn(&Frame) -> bool) -> Option<usize> {
    frames
        .iter()
        .enumerate()
        .skip(from)
        .find(|(_, f)| check(f))
        .map(|(i, _)| i)
}

fn failed_by(frame: &Frame, version: &str) -> usize {
    frame
        .tally
        .answers
        .iter()
        .filter(|((v, code), _)| v == version && *code >= 500)
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_shows_the_split_moving_and_the_rollback() {
    let mut drawn = Vec::new();
    let Some(frames) = demo::run(Options::default(), |frame| {
        drawn.push(demo::render(frame, false));
    })
    .await
    else {
        return;
    };
    let text = drawn.join("\n");
    eprintln!("{text}");
    assert!(!text.contains('\x1b'), "plain frames carry no escape codes");
    assert_eq!(drawn.len(), frames.len());

    // Version 2 walks through every weight, each one measured.
    let mut at = 0;
    for weight in [20, 50, 80] {
        at = first(&frames, at, |f| {
            f.weights == (100 - weight, weight) && f.tally.by_version("2") > 0
        })
        .unwrap_or_else(|| panic!("no frame at canary weight {weight}:\n{text}"));
        assert!(
            drawn[at].contains(&format!("canary {weight} %")),
            "{}",
            drawn[at]
        );
        assert!(drawn[at].contains("v2 "), "{}", drawn[at]);
    }
    // Version 3 answers with errors, which the frames show.
    let bad = first(&frames, at, |f| failed_by(f, "3") > 0)
        .unwrap_or_else(|| panic!("no frame with version 3 failing:\n{text}"));
    assert!(drawn[bad].contains("failed"), "{}", drawn[bad]);
    assert!(drawn[bad].contains('x'), "{}", drawn[bad]);
    // Then the rollback: aborted, Traefik back at 100/0, version 2 alone.
    let back = first(&frames, bad, |f| f.aborted && f.weights == (100, 0))
        .unwrap_or_else(|| panic!("no frame of the rollback:\n{text}"));
    assert!(drawn[back].contains("(aborted)"), "{}", drawn[back]);
    let last = frames.last().expect("frames");
    assert!(last.aborted, "{text}");
    assert_eq!(last.tally.answered(), last.tally.by_version("2"), "{text}");
    assert_eq!(last.tally.unsuccessful(), 0, "{text}");
    assert!(last.tally.answered() > 0, "{text}");
}
