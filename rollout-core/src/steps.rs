//! Step lookup: which step is current and which weight, scale and routes
//! the step history puts in effect at a step index.

use crate::intstr::IntOrString;
use crate::spec::{
    CanaryStep, CanaryStrategy, SetCanaryScale, SetHeaderRoute, SetMirrorRoute, StringMatch,
};

/// The step at `index`, or `None` once every step is done.
///
/// ```
/// use rollout_core::spec::CanaryStep;
/// use rollout_core::steps::current_step;
/// let steps = [CanaryStep::SetWeight(20)];
/// assert_eq!(current_step(&steps, 0), Some(&CanaryStep::SetWeight(20)));
/// assert_eq!(current_step(&steps, 1), None);
/// ```
pub fn current_step(steps: &[CanaryStep], index: usize) -> Option<&CanaryStep> {
    steps.get(index)
}

/// The `setWeight` in effect at `index`: the nearest one at or before it
/// (0 if none), `max_weight` once all steps are done. Argo's `GetCurrentSetWeight`
/// without the abort rule (an aborted rollout's weight is 0).
///
/// ```
/// use rollout_core::spec::{CanaryStep, Pause};
/// use rollout_core::steps::set_weight_at;
/// let steps = [CanaryStep::SetWeight(20), CanaryStep::Pause(Pause::default()), CanaryStep::SetWeight(60)];
/// assert_eq!(set_weight_at(&steps, 1, 100), 20);
/// assert_eq!(set_weight_at(&steps, 2, 100), 60);
/// assert_eq!(set_weight_at(&steps, 3, 100), 100);
/// ```
pub fn set_weight_at(steps: &[CanaryStep], index: usize, max_weight: i32) -> i32 {
    if index >= steps.len() {
        return max_weight;
    }
    last_set_weight(&steps[..=index])
}

/// The last `setWeight` strictly before `index` (0 if none): the traffic a
/// canary keeps while the pods for the current step are not ready yet.
///
/// ```
/// use rollout_core::spec::CanaryStep;
/// use rollout_core::steps::set_weight_before;
/// let steps = [CanaryStep::SetWeight(20), CanaryStep::SetWeight(40)];
/// assert_eq!(set_weight_before(&steps, 0), 0);
/// assert_eq!(set_weight_before(&steps, 1), 20);
/// ```
pub fn set_weight_before(steps: &[CanaryStep], index: usize) -> i32 {
    last_set_weight(&steps[..index.min(steps.len())])
}

fn last_set_weight(steps: &[CanaryStep]) -> i32 {
    set_weights(steps).next_back().unwrap_or(0)
}

/// The weights of the `setWeight` steps, in step order.
///
/// ```
/// use rollout_core::spec::{CanaryStep, Pause};
/// use rollout_core::steps::set_weights;
/// let steps = [CanaryStep::SetWeight(20), CanaryStep::Pause(Pause::default()), CanaryStep::SetWeight(60)];
/// assert_eq!(set_weights(&steps).collect::<Vec<_>>(), [20, 60]);
/// ```
pub fn set_weights(steps: &[CanaryStep]) -> impl DoubleEndedIterator<Item = i32> + '_ {
    steps.iter().filter_map(|s| match s {
        CanaryStep::SetWeight(w) => Some(*w),
        _ => None,
    })
}

/// How the canary is sized when a `setCanaryScale` step is in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryScale {
    /// An absolute number of pods.
    Replicas(i32),
    /// A weight, scaled like traffic: `spec.replicas × weight / maxTrafficWeight`.
    Weight(i32),
}

/// The `setCanaryScale` in effect at `index` (Argo's `UseSetCanaryScale`):
/// the nearest one at or before the index, unless it is `matchTrafficWeight`,
/// there is no traffic routing, all steps are done, or the update was aborted
/// (an abort keeps it only when `abortScaleDownDelaySeconds` is 0).
///
/// ```
/// use rollout_core::spec::{CanaryStep, CanaryStrategy, SetCanaryScale, TrafficRouting};
/// use rollout_core::steps::{canary_scale_at, CanaryScale};
/// let canary = CanaryStrategy {
///     traffic_routing: Some(TrafficRouting::default()),
///     steps: vec![
///         CanaryStep::SetCanaryScale(SetCanaryScale { replicas: Some(3), ..Default::default() }),
///         CanaryStep::SetWeight(10),
///     ],
///     ..Default::default()
/// };
/// assert_eq!(canary_scale_at(&canary, 1, false), Some(CanaryScale::Replicas(3)));
/// assert_eq!(canary_scale_at(&canary, 1, true), None);
/// ```
pub fn canary_scale_at(
    canary: &CanaryStrategy,
    index: usize,
    aborted: bool,
) -> Option<CanaryScale> {
    if !canary.routes_traffic() || index >= canary.steps.len() {
        return None;
    }
    if aborted && canary.abort_scale_down_delay_seconds != Some(0) {
        return None;
    }
    let scale = canary.steps[..=index].iter().rev().find_map(|s| match s {
        CanaryStep::SetCanaryScale(s) => Some(s),
        _ => None,
    })?;
    match scale {
        SetCanaryScale {
            replicas: Some(r), ..
        } => Some(CanaryScale::Replicas(*r)),
        SetCanaryScale {
            weight: Some(w), ..
        } => Some(CanaryScale::Weight(*w)),
        _ => None,
    }
}

/// The `setHeaderRoute` step in effect for a managed route at `index`: the
/// last one for that name at or before the index, or `None` if none set it
/// or the last one removed it (empty match).
pub fn header_route_at<'a>(
    steps: &'a [CanaryStep],
    index: usize,
    name: &str,
) -> Option<&'a SetHeaderRoute> {
    steps[..(index + 1).min(steps.len())]
        .iter()
        .rev()
        .find_map(|s| match s {
            CanaryStep::SetHeaderRoute(h) if h.name == name => Some(h),
            _ => None,
        })
        .filter(|h| !h.matches.is_empty())
}

/// The `setMirrorRoute` step in effect for a managed route at `index`; see
/// [`header_route_at`]. Its `percentage` defaults to 100.
pub fn mirror_route_at<'a>(
    steps: &'a [CanaryStep],
    index: usize,
    name: &str,
) -> Option<&'a SetMirrorRoute> {
    steps[..(index + 1).min(steps.len())]
        .iter()
        .rev()
        .find_map(|s| match s {
            CanaryStep::SetMirrorRoute(m) if m.name == name => Some(m),
            _ => None,
        })
        .filter(|m| !m.matches.is_empty())
}

/// A short, stable hash of the steps, recorded as `status.currentStepHash`
/// so that a change of steps restarts the update: XXH3 over a tagged,
/// length-prefixed encoding of each step, folded to 32 bits and written with
/// Kubernetes' "safe" alphabet (no vowels, no look-alike digits). The encoding is fixed
/// (it does not depend on the compiler or on serde), so the hash survives
/// upgrades; it is not Argo's (which hashes Go's JSON of the steps), so a
/// rollout taken over mid-update from Argo's controller restarts its steps.
///
/// ```
/// use rollout_core::spec::CanaryStep;
/// use rollout_core::steps::step_hash;
/// let a = step_hash(&[CanaryStep::SetWeight(20)]);
/// assert_eq!(a, step_hash(&[CanaryStep::SetWeight(20)]));
/// assert_ne!(a, step_hash(&[CanaryStep::SetWeight(30)]));
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
/// step, then its fields in a fixed order, strings length-prefixed.
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

    /// One step: a tag byte, then its fields in a fixed order.
    fn step(&mut self, step: &CanaryStep) {
        match step {
            CanaryStep::SetWeight(w) => {
                self.update(b"w");
                self.int(i64::from(*w));
            }
            CanaryStep::Pause(p) => {
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
            CanaryStep::SetCanaryScale(s) => {
                self.update(b"c");
                self.opt_int(s.weight.map(i64::from));
                self.opt_int(s.replicas.map(i64::from));
                self.update(&[u8::from(s.match_traffic_weight)]);
            }
            CanaryStep::SetHeaderRoute(r) => {
                self.update(b"h");
                self.str(&r.name);
                self.len(r.matches.len());
                for m in &r.matches {
                    self.str(&m.header_name);
                    self.string_match(Some(&m.header_value));
                }
            }
            CanaryStep::SetMirrorRoute(r) => {
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
            CanaryStep::Experiment(_) | CanaryStep::Analysis(_) | CanaryStep::Plugin(_) => {
                // Steps carrying free-form JSON are hashed by their JSON form, length-prefixed.
                let json = serde_json::to_vec(step).unwrap_or_default();
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
    use crate::spec::{HeaderMatch, StringMatch};

    fn header(name: &str, value: Option<&str>) -> CanaryStep {
        CanaryStep::SetHeaderRoute(SetHeaderRoute {
            name: name.into(),
            matches: value
                .map(|v| HeaderMatch {
                    header_name: "x-canary".into(),
                    header_value: StringMatch {
                        exact: Some(v.into()),
                        ..Default::default()
                    },
                })
                .into_iter()
                .collect(),
        })
    }

    #[test]
    fn header_routes_follow_the_step_history() {
        let steps = [
            header("h", Some("1")),
            CanaryStep::SetWeight(20),
            header("h", None),
            CanaryStep::SetWeight(40),
        ];
        assert!(header_route_at(&steps, 0, "h").is_some());
        assert!(header_route_at(&steps, 1, "h").is_some());
        assert!(header_route_at(&steps, 2, "h").is_none());
        assert!(header_route_at(&steps, 3, "h").is_none());
        assert!(header_route_at(&steps, 1, "other").is_none());
    }

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
}
