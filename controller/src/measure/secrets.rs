//! Arguments read from Secrets (`valueFrom.secretKeyRef`), as Argo's
//! analysis controller reads them when it measures: each Secret in the
//! run's namespace, read from the API server (not cached: this controller
//! holds no Secrets in memory between measurements), and the values kept out
//! of everything written (measurement messages and values, hence the run's
//! message, events and logs) by [`Secrets::redact`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use rollgate_analysis::types::Argument;

/// What stands for a Secret's value in anything written (Argo's).
pub const REDACTED: &str = "*****";

/// The Secrets' values of a run's arguments, by argument name.
#[derive(Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values.keys()).finish()
    }
}

/// Why the Secrets of a run's arguments could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The Secret or its key does not exist: the run ends in `Error`, as
    /// in Argo, with this text after "Unable to resolve metric arguments: ".
    #[error("{0}")]
    Missing(String),
    /// The API server could not be asked: the run is looked at again later
    /// (Argo ends the run in `Error` for this too).
    #[error("reading Secret {namespace}/{name}: {source}")]
    Api {
        /// The run's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
}

impl Secrets {
    /// Reads the Secret of every argument that names one, in `namespace`.
    /// No request when no argument does.
    pub async fn read(
        client: &Client,
        namespace: &str,
        args: &[Argument],
    ) -> Result<Self, SecretError> {
        let mut values = BTreeMap::new();
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        for arg in args {
            let Some(reference) = arg
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            else {
                continue;
            };
            let secret = match api.get_opt(&reference.name).await {
                Ok(Some(secret)) => secret,
                // Kubernetes' words, which Argo's message carries.
                Ok(None) => {
                    return Err(SecretError::Missing(format!(
                        "secrets \"{}\" not found",
                        reference.name
                    )));
                }
                Err(source) => {
                    return Err(SecretError::Api {
                        namespace: namespace.to_owned(),
                        name: reference.name.clone(),
                        source: Box::new(source),
                    });
                }
            };
            let value = secret
                .data
                .as_ref()
                .and_then(|d| d.get(&reference.key))
                .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
                .ok_or_else(|| {
                    SecretError::Missing(format!(
                        "key '{}' does not exist in secret '{}'",
                        reference.key, reference.name
                    ))
                })?;
            values.insert(arg.name.clone(), value);
        }
        Ok(Self { values })
    }

    /// The values by argument name, for
    /// [`rollgate_analysis::evaluate::resolve_metric`].
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// `text` with every Secret's value replaced by [`REDACTED`].
    ///
    /// ```
    /// use rollgate_controller::measure::secrets::Secrets;
    /// assert_eq!(Secrets::default().redact("as is"), "as is");
    /// ```
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in self.values.values().filter(|v| !v.is_empty()) {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), REDACTED);
            }
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn of(values: &[(&str, &str)]) -> Self {
        Self {
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_value_is_redacted_and_empty_ones_are_ignored() {
        let secrets = Secrets::of(&[("token", "t0ken"), ("password", "pw"), ("empty", "")]);
        assert_eq!(
            secrets.redact("GET /?key=t0ken (user:pw) t0ken"),
            "GET /?key=***** (user:*****) *****"
        );
        assert_eq!(format!("{secrets:?}"), r#"["empty", "password", "token"]"#);
    }
}
