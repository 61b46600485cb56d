//! Notice of change: one stream that yields whenever a Rollout, or any
//! ReplicaSet, pod or AnalysisRun of its namespace, is added, changed or
//! deleted (watches with kube's default backoff, so a dropped connection
//! is resumed). `get rollout --watch` and `status` redraw on it.

use futures::stream::{BoxStream, StreamExt, select_all};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use super::client::{Session, analysis_run_resource};

/// A stream with one item per change seen; the first items come from the
/// watches' initial listings. With `children` false only Rollout `name` is
/// watched.
pub(crate) fn changes(session: &Session, name: &str, children: bool) -> BoxStream<'static, ()> {
    let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut streams: Vec<BoxStream<'static, ()>> =
        vec![notices(watcher(session.rollouts(), by_name))];
    if children {
        let rs: Api<ReplicaSet> = Api::namespaced(session.client.clone(), &session.namespace);
        let pods: Api<Pod> = Api::namespaced(session.client.clone(), &session.namespace);
        let runs: Api<DynamicObject> = Api::namespaced_with(
            session.client.clone(),
            &session.namespace,
            &analysis_run_resource(),
        );
        let all = watcher::Config::default;
        streams.push(notices(watcher(rs, all())));
        streams.push(notices(watcher(pods, all())));
        streams.push(notices(watcher(runs, all())));
    }
    select_all(streams).boxed()
}

fn notices<K, S>(stream: S) -> BoxStream<'static, ()>
where
    K: Send + 'static,
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    stream
        .default_backoff()
        .filter_map(|event| async move {
            match event {
                Ok(
                    watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone,
                ) => Some(()),
                _ => None,
            }
        })
        .boxed()
}
