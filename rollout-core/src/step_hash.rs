//! `status.currentStepHash`: a stable hash of the steps, and Kubernetes'
//! "safe" encoding it is written in.

use crate::intstr::IntOrString;
use crate::spec::{CanaryStep, StepAction, StringMatch};

/// A short, stable hash of the steps, recorded as `status.currentStepHash`
/// so that a change of steps restarts the update: XXH3 over a tagged,
/// length-prefixed encoding of each step, folded to 32 bits and written with
/// Kubernetes' "safe" alphabet (no vowels, no look-alike digits). The encoding is fixed
/// (it does not depend on the compiler or on serde), so the hash survives
/// upgrades; it is not Argo's (which hashes Go's JSON of the steps), so a
/// rollout taken over mid-update from Argo's controller restarts its steps.
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::steps::step_hash;
/// let steps = |w| [CanaryStep::from(StepAction::SetWeight(w))];
/// let a = step_hash(&steps(20));
/// assert_eq!(a, step_hash(&steps(20)));
/// assert_ne!(a, step_hash(&steps(30)));
/// ```
pub fn step_hash(steps: &[CanaryStep]) -> String {
    safe_encode(step_hash_value(steps))
}

/// Whether `recorded` is the [`step_hash`] of `steps`, without building the string.
pub(crate) fn step_hash_matches(steps: &[CanaryStep], recorded: &str) -> bool {
    safe_encoded_eq(step_hash_value(steps), recorded)
}

fn step_hash_value(steps: &[CanaryStep]) -> u32 {
    let mut encoded = StepEncoding(Vec::with_capacity(16 * steps.len()));
    for step in steps {
        encoded.step(step);
    }
    let h = xxhash_rust::xxh3::xxh3_64(&encoded.0);
    // Fold to 32 bits: the hash is a change detector, not an identifier.
    (h ^ (h >> 32)) as u32
}

/// The byte encoding of steps that [`step_hash`] hashes: a tag byte per
/// action, then its fields in a fixed order, strings length-prefixed. A step
/// of one action is that action's encoding; a step of several is `+`, their
/// count, then each (so two one-action steps never encode like one step of
/// two actions, and the hash of one-action steps is what it always was).
struct StepEncoding(Vec<u8>);

impl StepEncoding {
    fn update(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// Integers as 4 bytes when they fit (all step fields but a numeric
    /// pause duration do), else a marker and 8 bytes.
    fn int(&mut self, n: i64) {
        match i32::try_from(n) {
            Ok(small) => self.update(&small.to_le_bytes()),
            Err(_) => {
                self.update(&[0xff]);
                self.update(&n.to_le_bytes());
            }
        }
    }

    fn opt_int(&mut self, n: Option<i64>) {
        match n {
            None => self.update(&[0]),
            Some(n) => {
                self.update(&[1]);
                self.int(n);
            }
        }
    }

    fn len(&mut self, n: usize) {
        self.int(i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.update(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.update(&[0]),
            Some(s) => {
                self.update(&[1]);
                self.str(s);
            }
        }
    }

    fn string_match(&mut self, m: Option<&StringMatch>) {
        match m {
            None => self.update(&[0]),
            Some(m) => {
                self.update(&[1]);
                self.opt_str(m.exact.as_deref());
                self.opt_str(m.prefix.as_deref());
                self.opt_str(m.regex.as_deref());
            }
        }
    }

    fn step(&mut self, step: &CanaryStep) {
        match step.actions() {
            [one] => self.action(one),
            several => {
                self.update(b"+");
                self.len(several.len());
                for action in several {
                    self.action(action);
                }
            }
        }
    }

    /// One action: a tag byte, then its fields in a fixed order.
    fn action(&mut self, action: &StepAction) {
        match action {
            StepAction::SetWeight(w) => {
                self.update(b"w");
                self.int(i64::from(*w));
            }
            StepAction::Pause(p) => {
                self.update(b"p");
                match &p.duration {
                    None => self.update(&[0]),
                    Some(IntOrString::Int(n)) => {
                        self.update(&[1]);
                        self.int(*n);
                    }
                    Some(IntOrString::String(s)) => {
                        self.update(&[2]);
                        self.str(s);
                    }
                }
            }
            StepAction::SetCanaryScale(s) => {
                self.update(b"c");
                self.opt_int(s.weight.map(i64::from));
                self.opt_int(s.replicas.map(i64::from));
                self.update(&[u8::from(s.match_traffic_weight)]);
            }
            StepAction::SetHeaderRoute(r) => {
                self.update(b"h");
                self.str(&r.name);
                self.len(r.matches.len());
                for m in &r.matches {
                    self.str(&m.header_name);
                    self.string_match(Some(&m.header_value));
                }
            }
            StepAction::SetMirrorRoute(r) => {
                self.update(b"m");
                self.str(&r.name);
                self.opt_int(r.percentage.map(i64::from));
                self.len(r.matches.len());
                for m in &r.matches {
                    self.string_match(m.method.as_ref());
                    self.string_match(m.path.as_ref());
                    self.len(m.headers.len());
                    for (name, value) in &m.headers {
                        self.str(name);
                        self.string_match(Some(value));
                    }
                }
            }
            StepAction::Experiment(_) | StepAction::Analysis(_) | StepAction::Plugin(_) => {
                // Actions carrying free-form JSON are hashed by their JSON form
                // (a one-field step object), length-prefixed.
                let json = serde_json::to_vec(action).unwrap_or_default();
                self.update(b"j");
                self.len(json.len());
                self.update(&json);
            }
        }
    }
}

/// Kubernetes' `rand.SafeEncodeString` applied to the decimal form of `n`.
pub(crate) fn safe_encode(n: u32) -> String {
    safe_encoded(n).map(char::from).collect()
}

/// The bytes of [`safe_encode`], without allocating.
fn safe_encoded(n: u32) -> impl Iterator<Item = u8> {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    (at..digits.len()).map(move |i| ALPHANUMS[usize::from(digits[i]) % ALPHANUMS.len()])
}

fn safe_encoded_eq(n: u32, s: &str) -> bool {
    safe_encoded(n).eq(s.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Pause, SetCanaryScale};

    #[test]
    fn safe_encoding_maps_each_decimal_digit() {
        // Kubernetes maps the decimal digits' bytes into its alphabet.
        assert_eq!(safe_encode(0), "4");
        assert_eq!(safe_encode(42), "86");
        assert_eq!(safe_encode(u32::MAX).len(), 10);
    }

    #[test]
    fn safe_encoding_uses_no_vowels() {
        let s = safe_encode(1_234_567_890);
        assert_eq!(s.len(), 10);
        assert!(s.chars().all(|c| !"aeiou013".contains(c)));
    }

    #[test]
    fn one_step_of_two_actions_is_not_two_steps() {
        let scale = StepAction::SetCanaryScale(SetCanaryScale {
            replicas: Some(1),
            ..Default::default()
        });
        let pause = StepAction::Pause(Pause::default());
        let together = [CanaryStep::new([pause.clone(), scale.clone()]).unwrap()];
        let apart = [CanaryStep::from(pause), CanaryStep::from(scale)];
        assert_ne!(step_hash(&together), step_hash(&apart));
        assert!(step_hash_matches(&together, &step_hash(&together)));
    }

    #[test]
    fn one_action_steps_keep_their_hash() {
        // The encoding of one-action steps is fixed: these values must not change.
        let steps = [
            CanaryStep::from(StepAction::SetWeight(20)),
            CanaryStep::from(StepAction::Pause(Pause::default())),
        ];
        assert_eq!(step_hash(&steps), HASH_OF_SETWEIGHT_20_PAUSE);
    }

    /// Recorded before steps could carry several actions.
    const HASH_OF_SETWEIGHT_20_PAUSE: &str = "6d7dffdd9";
}
