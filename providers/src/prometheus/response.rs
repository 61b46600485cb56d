//! Prometheus' HTTP API answer to an instant query, shaped as Argo shapes
//! it for conditions.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Failure, excerpt};
use crate::value::{Measured, MetricResult, format_sample, format_samples};

/// `{"status": ..., "data": {...}, "errorType": ..., "error": ..., "warnings": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Value,
}

/// `[timestamp, "value"]`.
#[derive(Debug, Deserialize)]
struct Point(#[allow(dead_code)] Value, String);

#[derive(Debug, Deserialize)]
struct VectorSample {
    value: Option<Point>,
}

#[derive(Debug, Deserialize)]
struct MatrixSeries {
    #[serde(default)]
    values: Vec<Point>,
}

/// The measurement in Prometheus' answer (`status` is the HTTP status).
///
/// As Argo: a scalar is a number; a vector is the array of its samples'
/// values; a matrix the array of all its series' values one series after
/// the other; a string is not supported. An empty vector is an empty array,
/// not an error (conditions on it fail with Argo's "nil or empty" error).
pub(crate) fn measurement(status: u16, body: &[u8]) -> Result<Measured, Failure> {
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if !(200..300).contains(&status) => {
            return Err(Failure::Status {
                status,
                excerpt: excerpt(body, 200),
            });
        }
        Err(e) => {
            return Err(Failure::PrometheusResponse(format!(
                "{e}, in {:?}",
                excerpt(body, 200)
            )));
        }
    };
    if envelope.status == "error" {
        return Err(Failure::Prometheus {
            error_type: envelope.error_type.unwrap_or_else(|| "error".to_owned()),
            error: envelope.error.unwrap_or_default(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(Failure::Status {
            status,
            excerpt: excerpt(body, 200),
        });
    }
    let data = envelope.data.ok_or_else(|| {
        Failure::PrometheusResponse(r#"status "success" without "data""#.to_owned())
    })?;
    let (result, value) = shape(&data)?;
    Ok(Measured {
        result,
        value,
        warnings: envelope.warnings,
    })
}

fn shape(data: &Data) -> Result<(MetricResult, String), Failure> {
    let malformed = |e: serde_json::Error| {
        Failure::PrometheusResponse(format!("a {} result: {e}", data.result_type))
    };
    match data.result_type.as_str() {
        "scalar" => {
            let point: Point = serde_json::from_value(data.result.clone()).map_err(malformed)?;
            let value = sample(&point.1)?;
            Ok((MetricResult::Number(value), format_sample(value)))
        }
        "vector" => {
            let samples: Vec<Option<VectorSample>> =
                serde_json::from_value(data.result.clone()).map_err(malformed)?;
            let values = samples
                .iter()
                .flatten()
                .map(|s| match &s.value {
                    Some(point) => sample(&point.1),
                    None => Err(native_histogram()),
                })
                .collect::<Result<Vec<f64>, Failure>>()?;
            let text = format_samples(&values);
            Ok((MetricResult::Numbers(values), text))
        }
        "matrix" => {
            let series: Vec<Option<MatrixSeries>> =
                serde_json::from_value(data.result.clone()).map_err(malformed)?;
            let values = series
                .iter()
                .flatten()
                .flat_map(|s| s.values.iter().map(|p| sample(&p.1)))
                .collect::<Result<Vec<f64>, Failure>>()?;
            let text = format_samples(&values);
            Ok((MetricResult::Numbers(values), text))
        }
        other => Err(Failure::UnsupportedResultType(other.to_owned())),
    }
}

fn native_histogram() -> Failure {
    Failure::PrometheusResponse(
        "a sample without a value (a native histogram?): conditions read numbers only".to_owned(),
    )
}

/// A sample's value: a decimal, `NaN`, `+Inf` or `-Inf`.
fn sample(text: &str) -> Result<f64, Failure> {
    text.parse::<f64>().map_err(|_| {
        Failure::PrometheusResponse(format!("the sample value {text:?} is not a number"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Measured {
        measurement(200, body.as_bytes()).unwrap()
    }

    #[test]
    fn a_vector_is_an_array_of_its_samples() {
        let m = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod_template_hash":"a"},"value":[1700000000.5,"0.8"]},
            {"metric":{"pod_template_hash":"b"},"value":[1700000000.5,"1"]}]}}"#,
        );
        assert_eq!(m.result, MetricResult::Numbers(vec![0.8, 1.0]));
        assert_eq!(m.value, "[0.8,1]");
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn an_empty_vector_is_an_empty_array_and_not_an_error() {
        let m = ok(r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#);
        assert_eq!(m.result, MetricResult::Numbers(vec![]));
        assert!(m.result.is_nil_or_empty());
        assert_eq!(m.value, "[]");
    }

    #[test]
    fn a_scalar_is_a_number_and_nan_stays_nan() {
        let m = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"NaN"]}}"#);
        assert!(matches!(m.result, MetricResult::Number(v) if v.is_nan()));
        assert_eq!(m.value, "NaN");
        let m = ok(r#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"+Inf"]}}"#);
        assert_eq!(m.result, MetricResult::Number(f64::INFINITY));
        assert_eq!(m.value, "+Inf");
    }

    #[test]
    fn a_matrix_is_all_values_series_after_series() {
        let m = ok(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{},"values":[[1,"1"],[2,"2"]]},{"metric":{},"values":[[1,"3"]]}]}}"#,
        );
        assert_eq!(m.result, MetricResult::Numbers(vec![1.0, 2.0, 3.0]));
        assert_eq!(m.value, "[1,2,3]");
    }

    #[test]
    fn warnings_are_kept_as_argo_writes_them() {
        let m = ok(
            r#"{"status":"success","warnings":["w1","w2"],"data":{"resultType":"vector","result":[]}}"#,
        );
        assert_eq!(m.warnings_metadata().as_deref(), Some(r#""w1", "w2""#));
    }

    #[test]
    fn a_string_result_is_not_supported() {
        let e = measurement(
            200,
            br#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"Prometheus metric type not supported (result type "string")"#
        );
    }

    #[test]
    fn prometheus_errors_read_as_type_and_message() {
        let e = measurement(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "bad_data: parse error at char 5");
    }

    #[test]
    fn a_non_json_error_page_names_its_status() {
        let e = measurement(502, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "received non 2xx response code: 502 (<html>bad gateway</html>)"
        );
    }

    #[test]
    fn a_sample_that_is_not_a_number_is_named() {
        let e = measurement(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"lots"]}]}}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains(r#"the sample value "lots" is not a number"#),
            "{e}"
        );
    }
}
