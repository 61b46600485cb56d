//! The Prometheus provider against a local server on 127.0.0.1: the exact
//! request it sends, an instant or a range query, and how it reads each
//! kind of answer.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Reply, Server, matrix};
use rollgate_analysis::types::{
    Authentication, BasicAuthConfig, PrometheusMetric, PrometheusRangeQuery, WebMetricHeader,
};
use rollgate_providers::{Client, Credentials, Failure, MetricResult, PrometheusQuery};

const SUCCESS_RATE: &str = r#"sum(rate(http_requests_total{code!~"5..",pod_template_hash="abc"}[1m])) / sum(rate(http_requests_total{pod_template_hash="abc"}[1m]))"#;
const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"0.8"]}]}}"#;

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
}

fn spec(address: String) -> PrometheusMetric {
    PrometheusMetric {
        address: Some(address),
        query: Some(SUCCESS_RATE.to_owned()),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_instant_query_is_a_form_post_with_the_query_the_time_and_the_headers() {
    let server = Server::start(|_| Reply::json(200, VECTOR)).await;
    let spec = PrometheusMetric {
        headers: vec![WebMetricHeader {
            key: "X-Scope-OrgID".into(),
            value: "team-a".into(),
        }],
        authentication: Some(Authentication {
            basic_auth: Some(BasicAuthConfig {
                username: Some("argo".into()),
                password: Some("s3cret".into()),
            }),
            ..Default::default()
        }),
        ..spec(server.url("/prom/"))
    };
    let query = PrometheusQuery::new("success-rate", &spec, None, None).unwrap();
    assert_eq!(
        query.endpoint().to_string(),
        server.url("/prom/api/v1/query")
    );
    let measured = query.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(measured.result, MetricResult::Numbers(vec![0.8]));
    assert_eq!(measured.value, "[0.8]");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/prom/api/v1/query");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(request.header("x-scope-orgid"), Some("team-a"));
    // base64("argo:s3cret")
    assert_eq!(
        request.header("authorization"),
        Some("Basic YXJnbzpzM2NyZXQ=")
    );
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .starts_with("rollgate/"),
        "{request:?}"
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(&request.body).into_owned().collect();
    assert_eq!(
        form,
        [
            ("query".to_owned(), SUCCESS_RATE.to_owned()),
            ("time".to_owned(), "1700000000.5".to_owned()),
        ]
    );
    assert!(
        request
            .body_text()
            .starts_with("query=sum%28rate%28http_requests_total%7Bcode%21%7E%225..%22")
    );
}

#[tokio::test]
async fn the_callers_bearer_token_is_sent_and_a_header_of_the_metric_replaces_it() {
    let server = Server::start(|_| Reply::json(200, VECTOR)).await;
    let bearer = Some(Credentials::Bearer("t0ken".into()));
    let query = PrometheusQuery::new("m", &spec(server.url("")), bearer.clone(), None).unwrap();
    query.measure(&Client::new(), at()).await.unwrap();
    let replaced = PrometheusMetric {
        headers: vec![WebMetricHeader {
            key: "Authorization".into(),
            value: "Bearer from-headers".into(),
        }],
        ..spec(server.url(""))
    };
    let query = PrometheusQuery::new("m", &replaced, bearer, None).unwrap();
    query.measure(&Client::new(), at()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].target, "/api/v1/query");
    assert_eq!(requests[0].header("authorization"), Some("Bearer t0ken"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer from-headers")
    );
}

#[tokio::test]
async fn a_range_query_posts_end_query_start_and_step_and_reads_a_matrix() {
    let server = Server::start(|_| Reply::json(200, &matrix(&[vec![1.0, 2.0], vec![3.0]]))).await;
    let spec = PrometheusMetric {
        address: Some(server.url("")),
        query: Some("rate(http_requests_total[1m])".into()),
        range_query: Some(PrometheusRangeQuery {
            start: Some(r#"now() - duration("1h")"#.into()),
            end: Some("now()".into()),
            step: Some("1m".into()),
        }),
        ..Default::default()
    };
    let query = PrometheusQuery::new("rate", &spec, None, None).unwrap();
    assert_eq!(
        query.endpoint().to_string(),
        server.url("/api/v1/query_range")
    );
    let measured = query.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(measured.result, MetricResult::Numbers(vec![1.0, 2.0, 3.0]));
    assert_eq!(measured.value, "[1,2,3]");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].target, "/api/v1/query_range");
    assert_eq!(
        requests[0].body_text(),
        "end=1700000000.5&query=rate%28http_requests_total%5B1m%5D%29&start=1699996400.5&step=60"
    );
}

#[tokio::test]
async fn a_range_query_falls_back_to_get_with_the_same_parameters() {
    let server = Server::start(|request| {
        if request.method == "POST" {
            Reply::text(405, "method not allowed")
        } else {
            Reply::json(200, &matrix(&[vec![0.5]]))
        }
    })
    .await;
    let spec = PrometheusMetric {
        address: Some(server.url("/prom")),
        query: Some("up".into()),
        range_query: Some(PrometheusRangeQuery {
            start: Some(
                r#"date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC") - duration("1h")"#
                    .into(),
            ),
            end: Some(r#"date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC")"#.into()),
            step: Some("90s".into()),
        }),
        ..Default::default()
    };
    let query = PrometheusQuery::new("up", &spec, None, None).unwrap();
    query.measure(&Client::new(), at()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests[1].method, "GET");
    assert_eq!(
        requests[1].target,
        "/prom/api/v1/query_range?end=1691971200&query=up&start=1691967600&step=90"
    );
}

#[tokio::test]
async fn a_server_refusing_post_is_asked_again_with_get() {
    let server = Server::start(|request| {
        if request.method == "POST" {
            Reply::text(405, "method not allowed")
        } else {
            Reply::json(
                200,
                r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"0.95"]}}"#,
            )
        }
    })
    .await;
    let spec = PrometheusMetric {
        query: Some("vector(0.95)".into()),
        ..spec(server.url(""))
    };
    let query = PrometheusQuery::new("m", &spec, None, None).unwrap();
    let measured = query.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(measured.result, MetricResult::Number(0.95));
    assert_eq!(measured.value, "0.95");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(
        requests[1].target,
        "/api/v1/query?query=vector%280.95%29&time=1700000000.5"
    );
    assert!(requests[1].body.is_empty());
    assert_eq!(requests[1].header("content-type"), None);
}

#[tokio::test]
async fn prometheus_errors_name_the_metric_the_url_and_prometheus_message() {
    let server = Server::start(|_| {
        Reply::json(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#,
        )
    })
    .await;
    let query = PrometheusQuery::new("success-rate", &spec(server.url("")), None, None).unwrap();
    let error = query.measure(&Client::new(), at()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "metric \"success-rate\" ({}): bad_data: 1:5: parse error: unexpected end of input",
            server.url("/api/v1/query")
        )
    );
}

#[tokio::test]
async fn a_slow_server_is_a_timeout_error() {
    let server = Server::start(|_| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(200, VECTOR)
    })
    .await;
    let spec = PrometheusMetric {
        timeout: Some(1),
        ..spec(server.url(""))
    };
    let query = PrometheusQuery::new("m", &spec, None, None).unwrap();
    let error = query.measure(&Client::new(), at()).await.unwrap_err();
    assert!(matches!(error.failure, Failure::Timeout(t) if t == Duration::from_secs(1)));
    assert!(
        error.to_string().ends_with("no response within 1s"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let huge = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[]}},"warnings":["{}"]}}"#,
        "x".repeat(rollgate_providers::MAX_BODY_BYTES)
    );
    let server = Server::start(move |_| Reply::json(200, &huge)).await;
    let query = PrometheusQuery::new("m", &spec(server.url("")), None, None).unwrap();
    let error = query.measure(&Client::new(), at()).await.unwrap_err();
    assert!(
        matches!(error.failure, Failure::BodyTooLarge { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn an_unreachable_address_names_it() {
    // Bound and dropped: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let query = PrometheusQuery::new("m", &spec(address.clone()), None, None).unwrap();
    let error = query.measure(&Client::new(), at()).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "metric \"m\" ({address}/api/v1/query): the request failed: "
        )),
        "{text}"
    );
}

#[test]
fn the_metric_is_checked_before_anything_is_sent() {
    let good = spec("http://127.0.0.1:9090".into());
    let cases = [
        (
            PrometheusMetric {
                address: None,
                ..good.clone()
            },
            "provider.prometheus.address: prometheus address is not configured",
        ),
        (
            PrometheusMetric {
                address: Some("prometheus:9090".into()),
                ..good.clone()
            },
            "provider.prometheus.address: \"prometheus:9090\" is not a URL",
        ),
        (
            PrometheusMetric {
                query: None,
                ..good.clone()
            },
            "provider.prometheus.query: expected a PromQL query",
        ),
        (
            PrometheusMetric {
                query: Some("up{pod_template_hash=\"{{ args.hash }}\"}".into()),
                ..good.clone()
            },
            "provider.prometheus.query: {{args.hash}} was not substituted",
        ),
        (
            PrometheusMetric {
                timeout: Some(-1),
                ..good.clone()
            },
            "provider.prometheus.timeout: expected a positive number of seconds, not -1",
        ),
        // Argo accepts 0 and then gives every query no time at all; Rollgate
        // refuses it.
        (
            PrometheusMetric {
                timeout: Some(0),
                ..good.clone()
            },
            "provider.prometheus.timeout: expected a positive number of seconds, not 0",
        ),
        (
            PrometheusMetric {
                authentication: Some(Authentication {
                    basic_auth: Some(BasicAuthConfig {
                        username: Some("argo".into()),
                        password: None,
                    }),
                    ..Default::default()
                }),
                ..good.clone()
            },
            "provider.prometheus.authentication.basicAuth.password: missing mandatory parameter in metric for basic auth setup: password",
        ),
        (
            PrometheusMetric {
                range_query: Some(PrometheusRangeQuery::default()),
                ..good.clone()
            },
            "provider.prometheus.rangeQuery.start: expected a time expression such as now() - duration(\"5m\")",
        ),
        (
            PrometheusMetric {
                range_query: Some(PrometheusRangeQuery {
                    start: Some("now() - duration(\"5m\")".into()),
                    end: Some("now()".into()),
                    step: None,
                }),
                ..good.clone()
            },
            "provider.prometheus.rangeQuery.step: expected a duration above 0 such as 30s or 1m, found \"\"",
        ),
        (
            PrometheusMetric {
                headers: vec![WebMetricHeader {
                    key: "Authorization".into(),
                    value: "Bearer {{args.token}}".into(),
                }],
                ..good.clone()
            },
            "provider.prometheus.headers[0].value: {{args.token}} was not substituted",
        ),
        (
            PrometheusMetric {
                address: Some("http://{{args.host}}:9090".into()),
                ..good.clone()
            },
            "provider.prometheus.address: {{args.host}} was not substituted",
        ),
        (
            PrometheusMetric {
                headers: vec![WebMetricHeader {
                    key: "bad header".into(),
                    value: "v".into(),
                }],
                ..good.clone()
            },
            "provider.prometheus.headers[0].key: \"bad header\" is not an HTTP header name",
        ),
    ];
    for (spec, expected) in cases {
        let error = PrometheusQuery::new("success-rate", &spec, None, None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("metric \"success-rate\" ("), "{error}");
        assert!(error.contains(expected), "{error}\nexpected: {expected}");
    }
}

#[test]
fn the_default_address_is_used_when_the_metric_has_none() {
    let spec = PrometheusMetric {
        address: None,
        ..spec(String::new())
    };
    let query = PrometheusQuery::new("m", &spec, None, Some("http://127.0.0.1:9090/")).unwrap();
    assert_eq!(
        query.endpoint().to_string(),
        "http://127.0.0.1:9090/api/v1/query"
    );
    assert_eq!(query.timeout(), Duration::from_secs(30));
}
