//! A backend and the load generator against each other, on 127.0.0.1 (no
//! cluster needed): answers carry the version, the error rate and latency
//! set for it apply, the metrics count what was answered, and nothing is
//! sent outside loopback.

use std::time::Duration;

use rollgate_dataplane::backend::{Backend, Identity};
use rollgate_dataplane::{Behaviour, Behaviours, Error, Load};

async fn backend(version: &str, behaviours: &Behaviours) -> Backend {
    Backend::start(
        "127.0.0.1:0".parse().unwrap(),
        Identity {
            version: version.to_owned(),
            pod_template_hash: format!("hash{version}"),
        },
        behaviours.clone(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_the_version_and_its_error_rate() {
    let behaviours = Behaviours::default();
    behaviours
        .set(
            "2",
            Behaviour {
                error_rate: 0.2,
                latency: Duration::ZERO,
            },
        )
        .unwrap();
    let good = backend("1", &behaviours).await;
    let bad = backend("2", &behaviours).await;

    let tally = Load::new(good.address, 500).run().await.unwrap();
    assert_eq!(tally.answered(), 500, "{tally:?}");
    assert_eq!(tally.by_version("1"), 500);
    assert_eq!(tally.unsuccessful(), 0);

    let tally = Load::new(bad.address, 2_000).run().await.unwrap();
    assert_eq!(tally.by_version("2"), 2_000, "{tally:?}");
    let errors = tally.answers[&("2".to_owned(), 500)];
    // 20 % of 2,000 is 400, with a standard deviation of about 18.
    assert!((300..=500).contains(&errors), "{errors} errors: {tally:?}");
    assert_eq!(tally.unsuccessful(), errors);

    let metrics = Load {
        path: "/metrics".into(),
        ..Load::new(bad.address, 1)
    };
    let tally = metrics.run().await.unwrap();
    assert_eq!(tally.answered(), 1);
    let text = &tally.answers.keys().next().unwrap().0;
    let line = format!(
        "rollgate_backend_requests_total{{code=\"500\",version=\"2\",pod_template_hash=\"hash2\"}} {errors}"
    );
    assert!(text.contains(&line), "{line} not in:\n{text}");
    assert!(
        text.contains("rollgate_backend_request_duration_seconds_bucket{le=\"0.005\",code=\"200\",version=\"2\",pod_template_hash=\"hash2\"}")
            || text.contains("rollgate_backend_request_duration_seconds_bucket{code=\"200\",version=\"2\",pod_template_hash=\"hash2\",le=\"0.005\"}"),
        "no latency histogram in:\n{text}"
    );
}

#[tokio::test]
async fn latency_is_applied_and_the_time_limit_stops_the_load() {
    let behaviours = Behaviours::default();
    behaviours
        .set(
            "slow",
            Behaviour {
                error_rate: 0.0,
                latency: Duration::from_millis(200),
            },
        )
        .unwrap();
    let slow = backend("slow", &behaviours).await;
    let load = Load {
        connections: 2,
        time_limit: Duration::from_millis(700),
        ..Load::new(slow.address, 1_000)
    };
    let tally = load.run().await.unwrap();
    // Two connections, 200 ms each: about 6 answers before the limit.
    assert!(
        (2..=8).contains(&tally.answered()),
        "{} answered: {tally:?}",
        tally.answered()
    );
    assert!(tally.elapsed < Duration::from_secs(2), "{tally:?}");
}

#[tokio::test]
async fn refuses_addresses_outside_loopback() {
    let behaviours = Behaviours::default();
    let outside = "10.96.0.1:80".parse().unwrap();
    assert!(matches!(
        Load::new(outside, 1).run().await,
        Err(Error::NotLoopback(_))
    ));
    let refused = Backend::start(
        outside,
        Identity {
            version: "1".into(),
            pod_template_hash: String::new(),
        },
        behaviours,
    )
    .await;
    assert!(matches!(refused, Err(Error::NotLoopback(_))));
    assert_eq!(
        Error::NotLoopback("10.96.0.1:80".into()).to_string(),
        "10.96.0.1:80 is outside 127.0.0.0/8: the data plane sends only to loopback addresses"
    );
}
