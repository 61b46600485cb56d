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

mod on_a_mock_api {
    use super::*;
    use rollgate_testkit::mock_api::{self, MockApi, reply, status};
    use serde_json::{Value, json};

    const PATH: &str =
        "/apis/coordination.k8s.io/v1/namespaces/ops/leases/rollgate-controller-lock";

    fn lease(holder: &str, transitions: i32) -> Value {
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "rollgate-controller-lock", "namespace": "ops", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                     "renewTime": "2026-12-01T10:00:00.000000Z", "acquireTime": "2026-12-01T09:00:00.000000Z",
                     "leaseTransitions": transitions}
        })
    }

    fn elector(client: kube::Client) -> Elector {
        Elector::new(client, election())
    }

    #[tokio::test]
    async fn a_missing_lease_is_created_with_us_as_its_holder() {
        let (client, mut api) = MockApi::client();
        let call = mock_api::spawn(async move { elector(client).try_acquire_or_renew().await });
        let get = api
            .next(reply(
                404,
                &status(
                    404,
                    "NotFound",
                    "leases \"rollgate-controller-lock\" not found",
                ),
            ))
            .await;
        assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", PATH));
        let create = api.next_with(|seen| reply(201, &seen.body)).await;
        assert_eq!(create.method, "POST");
        assert_eq!(create.body["spec"]["holderIdentity"], "me");
        assert_eq!(create.body["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(create.body["spec"]["leaseTransitions"], 0);
        assert_eq!(call.result().await, Attempt::Holding);
        api.no_more_requests().await;
    }

    #[tokio::test]
    async fn a_current_record_of_another_holder_is_left_alone() {
        let (client, mut api) = MockApi::client();
        let call = mock_api::spawn(async move { elector(client).try_acquire_or_renew().await });
        api.next(reply(200, &lease("other", 2))).await;
        assert_eq!(call.result().await, Attempt::HeldBy("other".into()));
        api.no_more_requests().await;
    }

    #[tokio::test]
    async fn a_free_lease_is_replaced_at_the_version_read_and_a_conflict_loses() {
        let (client, mut api) = MockApi::client();
        let call = mock_api::spawn(async move { elector(client).try_acquire_or_renew().await });
        api.next(reply(200, &lease("", 2))).await;
        let put = api
            .next(reply(
                409,
                &status(409, "Conflict", "the object has been modified"),
            ))
            .await;
        assert_eq!((put.method.as_str(), put.path.as_str()), ("PUT", PATH));
        assert_eq!(put.body["metadata"]["resourceVersion"], "7");
        assert_eq!(put.body["spec"]["holderIdentity"], "me");
        assert_eq!(put.body["spec"]["leaseTransitions"], 3);
        assert_eq!(call.result().await, Attempt::Failed);
    }

    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_by_its_renew_deadline() {
        let (service, api) = MockApi::new();
        let client = kube::Client::new(service, "default");
        let served = api.serve(|_| reply(500, &status(500, "InternalError", "etcd is down")));
        let mut e = election();
        e.lease_duration = Duration::from_millis(1500);
        e.renew_deadline = Duration::from_millis(300);
        e.retry_period = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let call = mock_api::spawn(async move { Elector::new(client, e).hold().await });
        call.result().await;
        let took = started.elapsed();
        // One retry period, then failed tries until the renew deadline.
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(
            took < Duration::from_millis(1500),
            "{took:?}: not before the lease expired"
        );
        assert!(served.requests().len() >= 2, "{:?}", served.lines());
    }

    #[tokio::test]
    async fn releasing_clears_the_holder_only_when_it_is_us() {
        let (client, mut api) = MockApi::client();
        let call = mock_api::spawn(async move { elector(client).release().await });
        api.next(reply(200, &lease("me", 4))).await;
        let put = api.next_with(|seen| reply(200, &seen.body)).await;
        assert_eq!(put.method, "PUT");
        assert_eq!(put.body["spec"].get("holderIdentity"), None);
        assert_eq!(put.body["spec"]["leaseDurationSeconds"], 1);
        assert_eq!(put.body["spec"]["leaseTransitions"], 4);
        call.result().await;

        let (client, mut api) = MockApi::client();
        let call = mock_api::spawn(async move { elector(client).release().await });
        api.next(reply(200, &lease("other", 4))).await;
        call.result().await;
        api.no_more_requests().await;
    }
}
