use super::*;

fn election() -> Election {
    Election {
        namespace: "ops".into(),
        name: lease_name(None),
        identity: "me".into(),
        lease_duration: DEFAULT_LEASE_DURATION,
        renew_deadline: DEFAULT_RENEW_DEADLINE,
        retry_period: DEFAULT_RETRY_PERIOD,
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn argo_defaults_pass_the_check() {
    assert_eq!(election().check(), Ok(()));
}

#[test]
fn the_check_names_the_flag_and_what_is_expected() {
    let mut e = election();
    e.retry_period = Duration::ZERO;
    assert_eq!(
        e.check().unwrap_err().to_string(),
        "--leader-election-retry-period: expected a duration greater than zero such as 2s"
    );
    let mut e = election();
    e.retry_period = Duration::from_secs(9);
    assert_eq!(
        e.check().unwrap_err().to_string(),
        "--leader-election-renew-deadline (10s) must be greater than --leader-election-retry-period (10.8s) times 1.2"
    );
    let mut e = election();
    e.namespace.clear();
    assert_eq!(e.check(), Err(ElectionError::NoNamespace));
    let mut e = election();
    e.lease_duration = e.renew_deadline;
    assert!(matches!(
        e.check(),
        Err(ElectionError::Order {
            longer: "lease-duration",
            ..
        })
    ));
}

#[test]
fn a_new_lease_is_ours_with_no_transition() {
    let spec = record_after(None, "me", 15, at("2026-12-01T10:00:00Z"));
    assert_eq!(holder(&spec), Some("me"));
    assert_eq!(spec.lease_transitions, Some(0));
    assert_eq!(spec.lease_duration_seconds, Some(15));
    assert_eq!(spec.acquire_time, spec.renew_time);
}

#[test]
fn a_renewal_keeps_the_acquire_time_and_transitions() {
    let first = record_after(None, "me", 15, at("2026-12-01T10:00:00Z"));
    let renewed = record_after(Some(&first), "me", 15, at("2026-12-01T10:00:02Z"));
    assert_eq!(renewed.acquire_time, first.acquire_time);
    assert_eq!(renewed.lease_transitions, Some(0));
    assert_eq!(
        renewed.renew_time,
        Some(MicroTime(at("2026-12-01T10:00:02Z")))
    );
}

#[test]
fn taking_over_counts_a_transition_and_resets_the_acquire_time() {
    let theirs = record_after(None, "other", 15, at("2026-12-01T10:00:00Z"));
    let taken = record_after(Some(&theirs), "me", 15, at("2026-12-01T10:00:20Z"));
    assert_eq!(holder(&taken), Some("me"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert_eq!(
        taken.acquire_time,
        Some(MicroTime(at("2026-12-01T10:00:20Z")))
    );
    // A released lease (no holder) taken again is a transition too.
    let released = LeaseSpec {
        holder_identity: None,
        ..taken
    };
    let again = record_after(Some(&released), "me", 15, at("2026-12-01T10:00:30Z"));
    assert_eq!(again.lease_transitions, Some(2));
}

#[test]
fn an_empty_holder_is_no_holder() {
    let spec = LeaseSpec {
        holder_identity: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(holder(&spec), None);
}

#[test]
fn a_record_expires_its_duration_after_it_was_seen() {
    let seen = Instant::now();
    let observed = Observed {
        spec: record_after(None, "other", 15, at("2026-12-01T10:00:00Z")),
        at: seen,
    };
    assert_eq!(observed.expires(), seen + Duration::from_secs(15));
    let negative = Observed {
        spec: LeaseSpec {
            lease_duration_seconds: Some(-3),
            ..Default::default()
        },
        at: seen,
    };
    assert_eq!(negative.expires(), seen);
}

#[test]
fn identities_differ_between_candidates_on_one_host() {
    let (a, b) = (identity(), identity());
    assert_ne!(a, b);
    assert!(a.contains('_'), "{a}");
}
